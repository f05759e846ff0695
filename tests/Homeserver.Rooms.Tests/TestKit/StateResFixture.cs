using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.StateRes;

namespace Homeserver.Rooms.Tests.TestKit;

/// <summary>
/// Loads the JSON fixtures under Fixtures/StateRes. Two kinds:
/// <list type="bullet">
/// <item><c>"kind": "dag"</c>: the events and <c>edges</c> (chains of prev_events, as in Synapse's tests/state/test_v2.py)
/// form a DAG on top of the standard initial room (CREATE, IMA, IPOWER, IJR, IMB, IMC, IMZ, START, END). The DAG is walked
/// in topological order; each event gets as auth events what the selection picks from the state before it, the state
/// before an event with several prev events is resolved with <see cref="StateResolver"/>, and the state at END must
/// equal the state at START updated with <c>expected</c>.</item>
/// <item><c>"kind": "sets"</c>: events with explicit auth events, explicit <c>state_sets</c>, and the whole resolved
/// state in <c>expected</c>.</item>
/// </list>
/// Event IDs are <c>$ID:example.com</c>; in v12 the room ID is the create event's ID with <c>!</c>.
/// </summary>
internal sealed class StateResFixture
{
    public const string Domain = "example.com";

    private readonly JsonObject root;

    private StateResFixture(string name, JsonObject root)
    {
        Name = name;
        this.root = root;
    }

    public string Name { get; }

    public string Kind => (string)root["kind"]!;

    public IEnumerable<string> Versions => root["room_versions"]!.AsArray().Select(v => (string)v!);

    public static string Directory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "StateRes");

    public static IEnumerable<StateResFixture> LoadAll() =>
        System.IO.Directory.GetFiles(Directory, "*.json").Order(StringComparer.Ordinal).Select(Load);

    public static StateResFixture Load(string path) =>
        new(Path.GetFileNameWithoutExtension(path), JsonNode.Parse(File.ReadAllText(path))!.AsObject());

    public static string Id(string shortId) => "$" + shortId + ":" + Domain;

    /// <summary>Runs the fixture for one version; returns the actual and the expected state (both as short IDs).</summary>
    public async Task<(IReadOnlyDictionary<StateKey, string> Actual, IReadOnlyDictionary<StateKey, string> Expected)> RunAsync(string versionId)
    {
        var version = RoomVersion.Find(versionId)!;
        return Kind switch
        {
            "dag" => await RunDagAsync(version),
            "sets" => await RunSetsAsync(version),
            _ => throw new InvalidOperationException("unknown fixture kind " + Kind),
        };
    }

    private JsonArray ExpectedFor(RoomVersion version) =>
        root["expected_by_version"]?[version.Id]?.AsArray() ?? root["expected"]!.AsArray();

    private async Task<(IReadOnlyDictionary<StateKey, string>, IReadOnlyDictionary<StateKey, string>)> RunSetsAsync(RoomVersion version)
    {
        var events = new Dictionary<string, Pdu>();
        var roomId = RoomIdFor(version);
        var index = 0;
        foreach (var node in root["events"]!.AsArray())
        {
            var ev = node!.AsObject();
            var auth = ev["auth_events"]!.AsArray().Select(a => (string)a!).ToList();
            if (version.RoomIdIsCreateEventHash)
            {
                auth.Remove("CREATE");
            }

            var prev = ev["prev_events"]?.AsArray().Select(a => (string)a!).ToList() ?? [];
            var pdu = Build(version, roomId, ev, auth, prev, ts: (long?)ev["ts"] ?? index, depth: (long?)ev["depth"] ?? index);
            events[pdu.EventId] = pdu;
            index++;
        }

        var rejected = root["rejected"]?.AsArray().Select(r => Id((string)r!)) ?? [];
        var source = new InMemoryStateResolutionSource(events.Values, rejected);
        var sets = root["state_sets"]!.AsArray()
            .Select(set => (IReadOnlyDictionary<StateKey, string>)set!.AsArray().Select(id => events[Id((string)id!)])
                .ToDictionary(e => e.StateMapKey!.Value, e => e.EventId))
            .ToList();

        var actual = await StateResolver.ResolveAsync(version, sets, source);
        var expected = ExpectedFor(version).Select(id => events[Id((string)id!)]).ToDictionary(e => e.StateMapKey!.Value, e => e.EventId);
        return (actual, expected);
    }

    private async Task<(IReadOnlyDictionary<StateKey, string>, IReadOnlyDictionary<StateKey, string>)> RunDagAsync(RoomVersion version)
    {
        var roomId = RoomIdFor(version);
        var specs = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var ev in InitialEvents(version).Concat(root["events"]!.AsArray().Select(n => n!.AsObject())))
        {
            specs[(string)ev["id"]!] = ev;
        }

        var prevs = specs.Keys.ToDictionary(k => k, _ => new SortedSet<string>(StringComparer.Ordinal), StringComparer.Ordinal);
        var chains = new List<string[]> { new[] { "START", "IMZ", "IMC", "IMB", "IJR", "IPOWER", "IMA", "CREATE" } };
        chains.AddRange(root["edges"]!.AsArray().Select(c => c!.AsArray().Select(x => (string)x!).ToArray()));
        foreach (var chain in chains)
        {
            for (var i = 0; i + 1 < chain.Length; i++)
            {
                prevs[chain[i]].Add(chain[i + 1]);
            }
        }

        var events = new Dictionary<string, Pdu>(StringComparer.Ordinal);
        var source = new GrowingSource(events);
        var stateAfter = new Dictionary<string, Dictionary<StateKey, string>>(StringComparer.Ordinal);
        long ts = 0;
        foreach (var node in TopologicalOrder(prevs))
        {
            var spec = specs[node];
            var parents = prevs[node].ToList();
            Dictionary<StateKey, string> before;
            if (parents.Count == 0)
            {
                before = [];
            }
            else if (parents.Count == 1)
            {
                before = new Dictionary<StateKey, string>(stateAfter[parents[0]]);
            }
            else
            {
                var resolved = await StateResolver.ResolveAsync(version, parents.Select(p => (IReadOnlyDictionary<StateKey, string>)stateAfter[p]).ToList(), source);
                before = new Dictionary<StateKey, string>(resolved);
            }

            var content = JsonDocument.Parse(spec["content"]!.ToJsonString()).RootElement;
            var authIds = AuthEventsSelection.SelectAuthEventIds(
                version, (string)spec["type"]!, (string?)spec["state_key"], (string)spec["sender"]!, content, before);
            var depth = parents.Count == 0 ? 0 : parents.Max(p => events[Id(p)].Depth) + 1;
            var pdu = Build(version, roomId, spec, [.. authIds.Select(Short)], parents, ts++, depth);
            events[pdu.EventId] = pdu;

            var after = new Dictionary<StateKey, string>(before);
            if (pdu.StateMapKey is { } key)
            {
                after[key] = pdu.EventId;
            }

            stateAfter[node] = after;
        }

        var expected = new Dictionary<StateKey, string>();
        foreach (var id in ExpectedFor(version))
        {
            var ev = events[Id((string)id!)];
            expected[ev.StateMapKey!.Value] = ev.EventId;
        }

        var start = stateAfter["START"];
        var end = stateAfter["END"];
        var actual = end.Where(kv => expected.ContainsKey(kv.Key) || !start.TryGetValue(kv.Key, out var s) || s != kv.Value)
            .ToDictionary(kv => kv.Key, kv => kv.Value);

        // Keys present at START but gone at END are a difference too.
        foreach (var key in start.Keys.Where(k => !end.ContainsKey(k)))
        {
            actual[key] = "<removed>";
        }

        return (actual, expected);
    }

    private static string Short(string id) => id[1..id.IndexOf(':', StringComparison.Ordinal)];

    private static string RoomIdFor(RoomVersion version) => version.RoomIdIsCreateEventHash ? "!CREATE:" + Domain : "!room:" + Domain;

    /// <summary>Lexicographically smallest topological order, parents first (Synapse's lexicographical_topological_sort).</summary>
    private static IEnumerable<string> TopologicalOrder(Dictionary<string, SortedSet<string>> prevs)
    {
        var pending = prevs.ToDictionary(kv => kv.Key, kv => kv.Value.Count, StringComparer.Ordinal);
        var children = prevs.Keys.ToDictionary(k => k, _ => new List<string>(), StringComparer.Ordinal);
        foreach (var (node, ps) in prevs)
        {
            foreach (var p in ps)
            {
                children[p].Add(node);
            }
        }

        var ready = new SortedSet<string>(pending.Where(kv => kv.Value == 0).Select(kv => kv.Key), StringComparer.Ordinal);
        while (ready.Count > 0)
        {
            var node = ready.Min!;
            ready.Remove(node);
            yield return node;
            foreach (var child in children[node])
            {
                if (--pending[child] == 0)
                {
                    ready.Add(child);
                }
            }
        }
    }

    private static Pdu Build(RoomVersion version, string roomId, JsonObject spec, IReadOnlyList<string> auth, IReadOnlyList<string> prev, long ts, long depth)
    {
        var id = Id((string)spec["id"]!);
        var type = (string)spec["type"]!;
        var obj = new JsonObject
        {
            ["type"] = type,
            ["sender"] = (string)spec["sender"]!,
            ["content"] = spec["content"]!.DeepClone(),
            ["origin_server_ts"] = ts,
            ["depth"] = depth,
            ["hashes"] = new JsonObject { ["sha256"] = "aGFzaA" },
            ["signatures"] = new JsonObject { [Domain] = new JsonObject { ["ed25519:a"] = "c2ln" } },
        };
        if (spec["state_key"] is { } sk)
        {
            obj["state_key"] = (string)sk!;
        }

        if (!(version.RoomIdIsCreateEventHash && type == EventTypes.Create))
        {
            obj["room_id"] = roomId;
        }

        if (version.UsesEventIdHashPairs)
        {
            obj["event_id"] = id;
            obj["auth_events"] = new JsonArray([.. auth.Select(a => (JsonNode)new JsonArray(Id(a), new JsonObject()))]);
            obj["prev_events"] = new JsonArray([.. prev.Select(a => (JsonNode)new JsonArray(Id(a), new JsonObject()))]);
        }
        else
        {
            obj["auth_events"] = new JsonArray([.. auth.Select(a => (JsonNode)JsonValue.Create(Id(a))!)]);
            obj["prev_events"] = new JsonArray([.. prev.Select(a => (JsonNode)JsonValue.Create(Id(a))!)]);
        }

        return Pdu.Parse(JsonDocument.Parse(obj.ToJsonString()).RootElement, version, id);
    }

    /// <summary>The initial room of Synapse's state resolution tests, adapted per version (creator field, v12 creators).</summary>
    private static IEnumerable<JsonObject> InitialEvents(RoomVersion version)
    {
        const string alice = "@alice:example.com";
        JsonObject E(string id, string sender, string type, string? stateKey, string content)
        {
            var o = new JsonObject { ["id"] = id, ["sender"] = sender, ["type"] = type, ["content"] = JsonNode.Parse(content) };
            if (stateKey is not null)
            {
                o["state_key"] = stateKey;
            }

            return o;
        }

        yield return E("CREATE", alice, EventTypes.Create, string.Empty, version.ImplicitRoomCreator ? "{}" : "{\"creator\":\"" + alice + "\"}");
        yield return E("IMA", alice, EventTypes.Member, alice, """{"membership":"join"}""");
        yield return E("IPOWER", alice, EventTypes.PowerLevels, string.Empty, version.PrivilegedCreators ? """{"users":{}}""" : "{\"users\":{\"" + alice + "\":100}}");
        yield return E("IJR", alice, EventTypes.JoinRules, string.Empty, """{"join_rule":"public"}""");
        yield return E("IMB", "@bob:example.com", EventTypes.Member, "@bob:example.com", """{"membership":"join"}""");
        yield return E("IMC", "@charlie:example.com", EventTypes.Member, "@charlie:example.com", """{"membership":"join"}""");
        yield return E("IMZ", "@zara:example.com", EventTypes.Member, "@zara:example.com", """{"membership":"join"}""");
        yield return E("START", "@zara:example.com", "m.room.message", null, "{}");
        yield return E("END", "@zara:example.com", "m.room.message", null, "{}");
    }

    /// <summary>A source over a dictionary that grows as the DAG is built.</summary>
    private sealed class GrowingSource(Dictionary<string, Pdu> events) : IStateResolutionSource
    {
        public ValueTask<IReadOnlyDictionary<string, Pdu>> GetEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken) =>
            ValueTask.FromResult<IReadOnlyDictionary<string, Pdu>>(eventIds.Where(events.ContainsKey).ToDictionary(id => id, id => events[id]));

        public ValueTask<IReadOnlySet<string>> GetRejectedAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken) =>
            ValueTask.FromResult<IReadOnlySet<string>>(new HashSet<string>());
    }
}
