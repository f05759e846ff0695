using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Rooms.Auth;

namespace Homeserver.Rooms.Tests.TestKit;

/// <summary>
/// Builds rooms of any version for tests: events get IDs, auth events (from the current state, per the auth events
/// selection), prev events, depth and timestamps automatically. <see cref="Send"/> applies a state event without any
/// auth check (to set up scenarios); <see cref="Build"/> returns an event without applying it.
/// </summary>
internal sealed class TestRoom
{
    public const string Alice = "@alice:example.com";
    public const string Bob = "@bob:example.com";
    public const string Charlie = "@charlie:example.com";
    public const string Eve = "@eve:evil.org";

    private readonly Dictionary<StateKey, Pdu> state = [];
    private readonly Dictionary<string, Pdu> all = [];
    private readonly string tag;
    private int counter;
    private long ts = 1000;
    private Pdu? last;

    public TestRoom(RoomVersion version, string creator = Alice, string? createContent = null, bool standardSetup = true, string? roomId = null)
    {
        Version = version;
        var content = createContent ?? (version.ImplicitRoomCreator ? "{}" : "{\"creator\":\"" + creator + "\"}");
        tag = MatrixId.LocalpartOf(creator) + (roomId is null ? string.Empty : roomId[1..roomId.IndexOf(':', StringComparison.Ordinal)]);
        var createId = NextId("create", "example.com");
        RoomId = version.RoomIdIsCreateEventHash ? "!" + createId[1..] : roomId ?? "!room:example.com";
        Create = Apply(Make(createId, EventTypes.Create, creator, string.Empty, content, [], []));
        if (standardSetup)
        {
            Send(EventTypes.Member, creator, creator, """{"membership":"join"}""");
            Send(EventTypes.PowerLevels, creator, string.Empty,
                version.PrivilegedCreators ? """{"users":{}}""" : "{\"users\":{\"" + creator + "\":100}}");
            Send(EventTypes.JoinRules, creator, string.Empty, """{"join_rule":"public"}""");
        }
    }

    public RoomVersion Version { get; }

    public string RoomId { get; }

    public Pdu Create { get; }

    public IReadOnlyDictionary<StateKey, Pdu> State => state;

    public IReadOnlyCollection<Pdu> AllEvents => all.Values;

    public Pdu Send(string type, string sender, string? stateKey, string content, string? eventId = null) =>
        Apply(Build(type, sender, stateKey, content, eventId));

    public Pdu Join(string user) => Send(EventTypes.Member, user, user, """{"membership":"join"}""");

    public Pdu SetMembership(string sender, string target, string membership) =>
        Send(EventTypes.Member, sender, target, "{\"membership\":\"" + membership + "\"}");

    public Pdu Build(string type, string sender, string? stateKey, string content, string? eventId = null, IReadOnlyList<string>? prevEvents = null)
    {
        var contentElement = JsonDocument.Parse(content).RootElement;
        var authIds = new List<string>();
        foreach (var key in AuthEventsSelection.GetRequiredKeys(Version, type, stateKey, sender, contentElement))
        {
            if (state.TryGetValue(key, out var ev))
            {
                authIds.Add(ev.EventId);
            }
        }

        var id = eventId ?? NextId("ev", "example.com");
        return Make(id, type, sender, stateKey, content, authIds, prevEvents ?? (last is null ? [] : [last.EventId]));
    }

    public AuthResult Check(Pdu pdu, IAuthSignatureVerifier? verifier = null) => EventAuth.Check(pdu, state, verifier);

    public AuthResult Check(string type, string sender, string? stateKey, string content) => Check(Build(type, sender, stateKey, content));

    public Pdu Apply(Pdu pdu)
    {
        all[pdu.EventId] = pdu;
        if (pdu.StateMapKey is { } key)
        {
            state[key] = pdu;
        }

        last = pdu;
        return pdu;
    }

    public Pdu Make(string id, string type, string sender, string? stateKey, string content, IReadOnlyList<string> auth, IReadOnlyList<string> prev, long? depth = null)
    {
        var obj = new JsonObject
        {
            ["type"] = type,
            ["sender"] = sender,
            ["content"] = JsonNode.Parse(content),
            ["origin_server_ts"] = ts++,
            ["depth"] = depth ?? (last?.Depth + 1 ?? 0),
            ["hashes"] = new JsonObject { ["sha256"] = "aGFzaA" },
            ["signatures"] = new JsonObject { [MatrixId.ServerOf(sender)!] = new JsonObject { ["ed25519:a"] = "c2ln" } },
        };
        if (!(Version.RoomIdIsCreateEventHash && type == EventTypes.Create))
        {
            obj["room_id"] = RoomId;
        }

        if (stateKey is not null)
        {
            obj["state_key"] = stateKey;
        }

        if (Version.UsesEventIdHashPairs)
        {
            obj["event_id"] = id;
            obj["auth_events"] = Pairs(auth);
            obj["prev_events"] = Pairs(prev);
        }
        else
        {
            obj["auth_events"] = new JsonArray([.. auth.Select(a => (JsonNode)JsonValue.Create(a)!)]);
            obj["prev_events"] = new JsonArray([.. prev.Select(a => (JsonNode)JsonValue.Create(a)!)]);
        }

        return Pdu.Parse(JsonDocument.Parse(obj.ToJsonString()).RootElement, Version, id);
    }

    private static JsonArray Pairs(IEnumerable<string> ids) =>
        new([.. ids.Select(a => (JsonNode)new JsonArray(JsonValue.Create(a), new JsonObject { ["sha256"] = "aGFzaA" }))]);

    /// <summary>A fresh event ID of this room's format.</summary>
    public string NewId(string prefix = "ev") => NextId(prefix, "example.com");

    private string NextId(string prefix, string domain)
    {
        counter++;
        return Version.UsesEventIdHashPairs ? "$" + prefix + counter + tag + ":" + domain : "$" + prefix + counter + tag + "x" + Version.Id;
    }
}
