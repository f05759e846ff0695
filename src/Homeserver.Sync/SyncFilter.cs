using System.Text.Json;

namespace Homeserver.Sync;

/// <summary>
/// The parts of a filter (client-server API, "Filtering") that shape a sync response. Parsed from the
/// filter JSON; absent fields keep the spec's defaults.
/// </summary>
public sealed record SyncFilter
{
    public static readonly SyncFilter Default = new();

    public int TimelineLimit { get; init; } = 10;

    public bool LazyLoadMembers { get; init; }

    public bool IncludeRedundantMembers { get; init; }

    public bool IncludeLeave { get; init; }

    /// <summary><c>room.timeline.unread_thread_notifications</c>: notification counts split per thread.</summary>
    public bool UnreadThreadNotifications { get; init; }

    public IReadOnlySet<string>? Rooms { get; init; }

    public IReadOnlySet<string> NotRooms { get; init; } = new HashSet<string>();

    public EventFilter Timeline { get; init; } = EventFilter.All;

    public EventFilter State { get; init; } = EventFilter.All;

    public EventFilter AccountData { get; init; } = EventFilter.All;

    public EventFilter RoomAccountData { get; init; } = EventFilter.All;

    public EventFilter Ephemeral { get; init; } = EventFilter.All;

    public EventFilter Presence { get; init; } = EventFilter.All;

    public bool IncludesRoom(string roomId) => (Rooms is null || Rooms.Contains(roomId)) && !NotRooms.Contains(roomId);

    /// <summary>Parses a filter definition; throws <see cref="JsonException"/> (or FormatException) on a bad shape.</summary>
    public static SyncFilter Parse(JsonElement filter)
    {
        var room = Obj(filter, "room");
        var timeline = room is { } r ? Obj(r, "timeline") : null;
        var state = room is { } r2 ? Obj(r2, "state") : null;
        var limit = timeline is { } t && t.TryGetProperty("limit", out var l) && l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var n) ? n : 10;
        return new SyncFilter
        {
            TimelineLimit = Math.Clamp(limit, 0, 1000),
            LazyLoadMembers = state is { } s && Bool(s, "lazy_load_members"),
            IncludeRedundantMembers = state is { } s2 && Bool(s2, "include_redundant_members"),
            IncludeLeave = room is { } r3 && Bool(r3, "include_leave"),
            UnreadThreadNotifications = timeline is { } t2 && Bool(t2, "unread_thread_notifications"),
            Rooms = room is { } r4 && Strings(r4, "rooms") is { } rooms ? rooms.ToHashSet(StringComparer.Ordinal) : null,
            NotRooms = (room is { } r5 ? Strings(r5, "not_rooms") : null)?.ToHashSet(StringComparer.Ordinal) ?? [],
            Timeline = EventFilter.Parse(timeline),
            State = EventFilter.Parse(state),
            AccountData = EventFilter.Parse(Obj(filter, "account_data")),
            RoomAccountData = EventFilter.Parse(room is { } r6 ? Obj(r6, "account_data") : null),
            Ephemeral = EventFilter.Parse(room is { } r7 ? Obj(r7, "ephemeral") : null),
            Presence = EventFilter.Parse(Obj(filter, "presence")),
        };
    }

    internal static JsonElement? Obj(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object ? v : null;

    internal static bool Bool(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    internal static List<string>? Strings(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToList()
            : null;
}

/// <summary>types / not_types / senders / not_senders / contains_url of one event filter; '*' globs in types.</summary>
public sealed record EventFilter
{
    public static readonly EventFilter All = new();

    public IReadOnlyList<string>? Types { get; init; }

    public IReadOnlyList<string> NotTypes { get; init; } = [];

    public IReadOnlySet<string>? Senders { get; init; }

    public IReadOnlySet<string> NotSenders { get; init; } = new HashSet<string>();

    public bool? ContainsUrl { get; init; }

    public int? Limit { get; init; }

    public static EventFilter Parse(JsonElement? element)
    {
        if (element is not { } e)
        {
            return All;
        }

        return new EventFilter
        {
            Types = SyncFilter.Strings(e, "types"),
            NotTypes = SyncFilter.Strings(e, "not_types") ?? [],
            Senders = SyncFilter.Strings(e, "senders")?.ToHashSet(StringComparer.Ordinal),
            NotSenders = SyncFilter.Strings(e, "not_senders")?.ToHashSet(StringComparer.Ordinal) ?? [],
            ContainsUrl = e.TryGetProperty("contains_url", out var cu) && cu.ValueKind is JsonValueKind.True or JsonValueKind.False ? cu.GetBoolean() : null,
            Limit = e.TryGetProperty("limit", out var l) && l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var n) ? n : null,
        };
    }

    public bool Matches(string type, string sender, JsonElement? content = null)
    {
        if (NotSenders.Contains(sender) || (Senders is not null && !Senders.Contains(sender)))
        {
            return false;
        }

        if (NotTypes.Any(t => Glob(t, type)) || (Types is not null && !Types.Any(t => Glob(t, type))))
        {
            return false;
        }

        if (ContainsUrl is { } wantsUrl && content is { } c)
        {
            var hasUrl = c.ValueKind == JsonValueKind.Object && c.TryGetProperty("url", out var u) && u.ValueKind == JsonValueKind.String;
            if (hasUrl != wantsUrl)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Filter types allow '*' as a wildcard for any run of characters.</summary>
    internal static bool Glob(string pattern, string value)
    {
        if (!pattern.Contains('*'))
        {
            return pattern == value;
        }

        var parts = pattern.Split('*');
        if (!value.StartsWith(parts[0], StringComparison.Ordinal))
        {
            return false;
        }

        var index = parts[0].Length;
        for (var i = 1; i < parts.Length - 1; i++)
        {
            var found = value.IndexOf(parts[i], index, StringComparison.Ordinal);
            if (found < 0)
            {
                return false;
            }

            index = found + parts[i].Length;
        }

        return value.Length - index >= parts[^1].Length && value.EndsWith(parts[^1], StringComparison.Ordinal);
    }
}
