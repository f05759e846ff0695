using System.Text;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Rooms.Auth;

namespace Homeserver.Rooms;

/// <summary>
/// An immutable, validated persistent data unit (room event) of one room version.
/// Built only by <see cref="Parse(JsonElement, RoomVersion, string?)"/>, which checks the event format of the
/// room version (the PDU schemas under "Event format" in each room version of the spec) and owns a clone of the JSON.
/// Event IDs are given by the caller (v3+ IDs are reference hashes computed elsewhere) or read from <c>event_id</c> (v1, v2).
/// </summary>
public sealed class Pdu
{
    /// <summary>Maximum <c>depth</c> before v6 (2^63 - 1) and from v6 on (2^53 - 1, canonical JSON), per the PDU schemas.</summary>
    private const long MaxDepthV6 = (1L << 53) - 1;

    /// <summary>"Size limits" (client-server API): these fields are limited to 255 bytes.</summary>
    private const int MaxIdBytes = 255;

    /// <summary>PDU schemas: <c>prev_events</c> must contain at most 20 events and <c>auth_events</c> at most 10.</summary>
    private const int MaxPrevEvents = 20;
    private const int MaxAuthEvents = 10;

    // The power levels this event gives with a create event (PowerLevels.From), kept on the power levels event: every
    // send's auth check reads them, and reading the users', events' and notifications' maps again per event was a
    // large share of a busy room's allocations. One immutable object, so that a racing reader never sees half of it.
    private PowerLevels.Memo? _powerLevels;

    private Pdu(JsonElement json, RoomVersion version, string eventId)
    {
        Json = json;
        RoomVersion = version;
        EventId = eventId;
    }

    public string EventId { get; }

    /// <summary>The room ID. For a v12 <c>m.room.create</c> (which has no <c>room_id</c>) it is the event ID with the <c>!</c> sigil.</summary>
    public string RoomId { get; private init; } = string.Empty;

    public string Sender { get; private init; } = string.Empty;

    public string Type { get; private init; } = string.Empty;

    /// <summary>The <c>state_key</c>, or null for a message (non-state) event.</summary>
    public string? StateKey { get; private init; }

    public bool IsState => StateKey is not null;

    /// <summary>The key this event occupies in a state map, or null for a message event.</summary>
    public StateKey? StateMapKey => StateKey is null ? null : new StateKey(Type, StateKey);

    public JsonElement Content { get; private init; }

    public long Depth { get; private init; }

    public long OriginServerTs { get; private init; }

    public IReadOnlyList<string> PrevEventIds { get; private init; } = [];

    public IReadOnlyList<string> AuthEventIds { get; private init; } = [];

    /// <summary>For <c>m.room.redaction</c>: the redacted event ID (top level before v11, <c>content.redacts</c> from v11).</summary>
    public string? Redacts { get; private init; }

    /// <summary>The deprecated top-level <c>origin</c>, if present as a string.</summary>
    public string? Origin { get; private init; }

    /// <summary>The <c>unsigned</c> object, if present.</summary>
    public JsonElement? Unsigned { get; private init; }

    /// <summary>For <c>m.room.member</c>: <c>content.membership</c> when it is a string.</summary>
    public string? Membership { get; private init; }

    /// <summary>The whole event as received (an owned clone).</summary>
    public JsonElement Json { get; }

    public RoomVersion RoomVersion { get; }

    public override string ToString() => EventId + " (" + Type + (StateKey is null ? string.Empty : ", " + StateKey) + ")";

    /// <summary>This event with its room version's redaction applied (the same event ID: redaction keeps what it covers).</summary>
    public Pdu Redacted()
    {
        using var redacted = JsonDocument.Parse(Homeserver.Crypto.Redaction.Redact(Json, RoomVersion));
        return Parse(redacted.RootElement.Clone(), RoomVersion, EventId);
    }

    /// <summary>
    /// Validates <paramref name="json"/> against the event format of <paramref name="version"/> and builds a PDU.
    /// For v1 and v2 the ID is the <c>event_id</c> field; <paramref name="eventId"/>, if given, must match it.
    /// For v3 and later <paramref name="eventId"/> (the reference hash, computed by the caller) is required.
    /// </summary>
    /// <exception cref="InvalidPduException">The event is malformed for this room version.</exception>
    public static Pdu Parse(JsonElement json, RoomVersion version, string? eventId = null)
    {
        ArgumentNullException.ThrowIfNull(version);
        if (!version.UsesEventIdHashPairs && eventId is null)
        {
            throw new ArgumentNullException(nameof(eventId), "room version " + version.Id + " needs the event ID from the caller");
        }

        try
        {
            return ParseCore(json, version, eventId);
        }
        catch (InvalidPduException)
        {
            throw;
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or JsonException or ObjectDisposedException)
        {
            // Defensive: a JsonElement accessor threw on a shape we did not anticipate. Bad input is always reported the same way.
            throw new InvalidPduException("malformed event: " + e.Message, e);
        }
    }

    private static Pdu ParseCore(JsonElement input, RoomVersion version, string? givenId)
    {
        if (input.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidPduException("event is not a JSON object");
        }

        var json = input.Clone();

        string eventId;
        if (version.UsesEventIdHashPairs)
        {
            eventId = RequireString(json, "event_id");
            if (givenId is not null && givenId != eventId)
            {
                throw new InvalidPduException("event_id " + eventId + " does not match the expected ID " + givenId);
            }
        }
        else
        {
            eventId = givenId!;
        }

        if (!MatrixId.IsValidEventId(eventId))
        {
            throw new InvalidPduException("invalid event ID '" + eventId + "'");
        }

        var type = RequireString(json, "type");
        CheckLength("type", type);
        var sender = RequireString(json, "sender");
        if (!MatrixId.IsValidUserId(sender))
        {
            throw new InvalidPduException("sender '" + sender + "' is not a valid user ID");
        }

        string? stateKey = null;
        if (json.TryGetProperty("state_key", out var sk))
        {
            if (sk.ValueKind != JsonValueKind.String)
            {
                throw new InvalidPduException("state_key must be a string");
            }

            stateKey = sk.GetString()!;
            CheckLength("state_key", stateKey);
        }

        var isV12Create = version.RoomIdIsCreateEventHash && type == EventTypes.Create && stateKey == string.Empty;
        string roomId;
        if (isV12Create)
        {
            // v12 event format (room_id_v12.yaml): the room ID is omitted from m.room.create; it is the event ID with '!'.
            if (json.TryGetProperty("room_id", out _))
            {
                throw new InvalidPduException("m.room.create must not have a room_id in room version " + version.Id);
            }

            roomId = "!" + eventId[1..];
        }
        else
        {
            roomId = RequireString(json, "room_id");
            if (!MatrixId.IsValidRoomId(roomId))
            {
                throw new InvalidPduException("room_id '" + roomId + "' is not a valid room ID");
            }
        }

        if (!json.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidPduException("content must be an object");
        }

        var depth = RequireInteger(json, "depth");
        var maxDepth = version.StrictCanonicalJson ? MaxDepthV6 : long.MaxValue;
        if (depth < 0 || depth > maxDepth)
        {
            throw new InvalidPduException("depth " + depth + " is out of range");
        }

        var ts = RequireInteger(json, "origin_server_ts");

        if (!json.TryGetProperty("hashes", out var hashes) || hashes.ValueKind != JsonValueKind.Object
            || !hashes.TryGetProperty("sha256", out var sha) || sha.ValueKind != JsonValueKind.String)
        {
            throw new InvalidPduException("hashes must be an object with a sha256 string");
        }

        if (!json.TryGetProperty("signatures", out var sigs) || sigs.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidPduException("signatures must be an object");
        }

        JsonElement? unsigned = null;
        if (json.TryGetProperty("unsigned", out var u))
        {
            if (u.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidPduException("unsigned must be an object");
            }

            unsigned = u;
        }

        var prev = ReadEventRefs(json, "prev_events", version, MaxPrevEvents);
        var auth = ReadEventRefs(json, "auth_events", version, MaxAuthEvents);

        if (version.RoomIdIsCreateEventHash && !isV12Create)
        {
            // v12: "The m.room.create event MUST NOT be selected for auth_events"; the room ID already names it.
            var createId = "$" + roomId[1..];
            foreach (var id in auth)
            {
                if (id == createId)
                {
                    throw new InvalidPduException("auth_events must not contain the m.room.create event in room version " + version.Id);
                }
            }
        }

        string? origin = null;
        if (json.TryGetProperty("origin", out var o) && o.ValueKind == JsonValueKind.String)
        {
            origin = o.GetString();
        }

        return new Pdu(json, version, eventId)
        {
            RoomId = roomId,
            Sender = sender,
            Type = type,
            StateKey = stateKey,
            Content = content,
            Depth = depth,
            OriginServerTs = ts,
            PrevEventIds = prev,
            AuthEventIds = auth,
            Redacts = ReadRedacts(json, content, type, version),
            Origin = origin,
            Unsigned = unsigned,
            Membership = type == EventTypes.Member ? Rooms.Json.GetString(content, "membership") : null,
        };
    }

    /// <summary>
    /// Before v11 <c>redacts</c> is a top-level key. From v11 it moved into <c>content</c> ("Redactions", v11);
    /// we also accept the top-level key there as a fallback, as servers sent both during the transition.
    /// </summary>
    private static string? ReadRedacts(JsonElement json, JsonElement content, string type, RoomVersion version)
    {
        if (type != EventTypes.Redaction)
        {
            return null;
        }

        var topLevel = Rooms.Json.GetString(json, "redacts");
        return version.RedactsInContent ? Rooms.Json.GetString(content, "redacts") ?? topLevel : topLevel;
    }

    private static string[] ReadEventRefs(JsonElement json, string name, RoomVersion version, int max)
    {
        if (!json.TryGetProperty(name, out var arr) || arr.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidPduException(name + " must be an array");
        }

        var count = arr.GetArrayLength();
        if (count > max)
        {
            throw new InvalidPduException(name + " has " + count + " entries; at most " + max + " are allowed");
        }

        var ids = new string[count];
        var i = 0;
        foreach (var item in arr.EnumerateArray())
        {
            JsonElement idElement;
            if (version.UsesEventIdHashPairs)
            {
                // v1/v2: each entry is [event_id, {hashes}] (pdu_v1.yaml).
                if (item.ValueKind != JsonValueKind.Array || item.GetArrayLength() != 2 || item[1].ValueKind != JsonValueKind.Object)
                {
                    throw new InvalidPduException(name + " entries must be [event_id, hashes] pairs in room version " + version.Id);
                }

                idElement = item[0];
            }
            else
            {
                idElement = item;
            }

            if (idElement.ValueKind != JsonValueKind.String || !MatrixId.IsValidEventId(idElement.GetString()))
            {
                throw new InvalidPduException(name + " must contain event IDs");
            }

            ids[i++] = idElement.GetString()!;
        }

        return ids;
    }

    private static string RequireString(JsonElement json, string name)
    {
        if (!json.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.String)
        {
            throw new InvalidPduException(name + " is required and must be a string");
        }

        var s = v.GetString()!;
        CheckLength(name, s);
        return s;
    }

    private static long RequireInteger(JsonElement json, string name)
    {
        if (!json.TryGetProperty(name, out var v) || !Rooms.Json.TryGetInteger(v, out var value))
        {
            throw new InvalidPduException(name + " is required and must be an integer");
        }

        return value;
    }

    private static void CheckLength(string name, string value)
    {
        if (Encoding.UTF8.GetByteCount(value) > MaxIdBytes)
        {
            throw new InvalidPduException(name + " is longer than " + MaxIdBytes + " bytes");
        }
    }

    internal PowerLevels.Memo? PowerLevelsMemo
    {
        get => Volatile.Read(ref _powerLevels);
        set => Volatile.Write(ref _powerLevels, value);
    }
}
