using System.Text.Json;
using Homeserver.Core;
using Homeserver.Rooms.Client;

namespace Homeserver.Sync;

/// <summary>
/// A filter (client-server API, "Filtering": <c>Filter</c> with its <c>RoomFilter</c>, <c>RoomEventFilter</c>
/// and <c>EventFilter</c>) as it shapes a sync response. <see cref="Parse"/> checks the shape as Synapse's
/// schema does (unknown fields are allowed for forward compatibility; a known field of the wrong type, or a
/// malformed user or room ID, is <c>M_BAD_JSON</c>); absent fields keep the spec's defaults.
/// </summary>
public sealed record SyncFilter
{
    public const int DefaultTimelineLimit = 10;

    /// <summary>The largest timeline limit we honour (a cap protects the server from silly values).</summary>
    public const int MaxTimelineLimit = 1000;

    public const string ClientFormat = "client";

    public const string FederationFormat = "federation";

    public static readonly SyncFilter Default = new();

    public int TimelineLimit => Timeline.Limit is { } l ? Math.Clamp(l, 0, MaxTimelineLimit) : DefaultTimelineLimit;

    /// <summary><c>room.state.lazy_load_members</c> (the spec supports lazy-loading on the state filter only for /sync).</summary>
    public bool LazyLoadMembers => State.LazyLoadMembers;

    public bool IncludeRedundantMembers => State.IncludeRedundantMembers;

    public bool IncludeLeave { get; init; }

    /// <summary><c>room.timeline.unread_thread_notifications</c>: notification counts split per thread.</summary>
    public bool UnreadThreadNotifications { get; init; }

    /// <summary><c>room.rooms</c>: null means every room.</summary>
    public IReadOnlySet<string>? Rooms { get; init; }

    public IReadOnlySet<string> NotRooms { get; init; } = new HashSet<string>();

    public EventFilter Timeline { get; init; } = EventFilter.All;

    public EventFilter State { get; init; } = EventFilter.All;

    /// <summary>Global account data (<c>account_data</c> at the top level).</summary>
    public EventFilter AccountData { get; init; } = EventFilter.All;

    /// <summary>Per-room account data (<c>room.account_data</c>).</summary>
    public EventFilter RoomAccountData { get; init; } = EventFilter.All;

    public EventFilter Ephemeral { get; init; } = EventFilter.All;

    public EventFilter Presence { get; init; } = EventFilter.All;

    /// <summary><c>event_fields</c>: dot-separated paths of the fields to keep in room events (null or empty: all fields).</summary>
    public IReadOnlyList<string>? EventFields { get; init; }

    /// <summary><c>event_format</c>: <see cref="ClientFormat"/> (the default) or <see cref="FederationFormat"/> (the events as servers exchange them).</summary>
    public string EventFormat { get; init; } = ClientFormat;

    /// <summary>
    /// Users the requester ignores (<c>m.ignored_user_list</c>, client-server API "Ignoring users"): not part of the
    /// filter JSON, but applied with it — their non-state events and their invites are left out.
    /// </summary>
    public IReadOnlySet<string> IgnoredUsers { get; init; } = new HashSet<string>();

    /// <summary>The room filter: <c>not_rooms</c> wins over <c>rooms</c>.</summary>
    public bool IncludesRoom(string roomId) => (Rooms is null || Rooms.Contains(roomId)) && !NotRooms.Contains(roomId);

    /// <summary>Parses and checks a filter definition; throws <see cref="MatrixException"/> (M_BAD_JSON) on a bad shape.</summary>
    public static SyncFilter Parse(JsonElement filter)
    {
        if (filter.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("filter must be an object");
        }

        var room = Obj(filter, "room", "room");
        var format = Str(filter, "event_format", "event_format") ?? ClientFormat;
        if (format is not (ClientFormat or FederationFormat))
        {
            throw MatrixException.BadJson("event_format must be 'client' or 'federation'");
        }

        return new SyncFilter
        {
            EventFields = Strings(filter, "event_fields", "event_fields", null),
            EventFormat = format,
            IncludeLeave = room is { } r && Bool(r, "include_leave", "room.include_leave"),
            UnreadThreadNotifications = room is { } rt && Obj(rt, "timeline", "room.timeline") is { } t && Bool(t, "unread_thread_notifications", "room.timeline.unread_thread_notifications"),
            Rooms = room is { } r2 ? Strings(r2, "rooms", "room.rooms", MatrixId.IsValidRoomId)?.ToHashSet(StringComparer.Ordinal) : null,
            NotRooms = (room is { } r3 ? Strings(r3, "not_rooms", "room.not_rooms", MatrixId.IsValidRoomId) : null)?.ToHashSet(StringComparer.Ordinal) ?? [],
            Timeline = EventFilter.Parse(room is { } r4 ? Obj(r4, "timeline", "room.timeline") : null, "room.timeline"),
            State = EventFilter.Parse(room is { } r5 ? Obj(r5, "state", "room.state") : null, "room.state"),
            Ephemeral = EventFilter.Parse(room is { } r6 ? Obj(r6, "ephemeral", "room.ephemeral") : null, "room.ephemeral"),
            RoomAccountData = EventFilter.Parse(room is { } r7 ? Obj(r7, "account_data", "room.account_data") : null, "room.account_data"),
            AccountData = EventFilter.Parse(Obj(filter, "account_data", "account_data"), "account_data"),
            Presence = EventFilter.Parse(Obj(filter, "presence", "presence"), "presence"),
        };
    }

    internal static JsonElement? Obj(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Object ? v : throw MatrixException.BadJson($"filter: {path} must be an object");
    }

    internal static bool Bool(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return false;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw MatrixException.BadJson($"filter: {path} must be a boolean"),
        };
    }

    internal static string? Str(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw MatrixException.BadJson($"filter: {path} must be a string");
    }

    internal static List<string>? Strings(JsonElement e, string name, string path, Func<string, bool>? valid)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw MatrixException.BadJson($"filter: {path} must be an array");
        }

        var list = new List<string>(v.GetArrayLength());
        foreach (var item in v.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || (valid is not null && !valid(item.GetString()!)))
            {
                throw MatrixException.BadJson($"filter: {path} must contain only " + (valid is null ? "strings" : "valid identifiers"));
            }

            list.Add(item.GetString()!);
        }

        return list;
    }
}

/// <summary>
/// An <c>EventFilter</c> or <c>RoomEventFilter</c>: types / not_types ('*' globs), senders / not_senders,
/// rooms / not_rooms, contains_url, limit, and the lazy-loading and thread-notification switches.
/// A "not" list always wins over its positive list.
/// </summary>
public sealed record EventFilter
{
    public static readonly EventFilter All = new();

    public IReadOnlyList<string>? Types { get; init; }

    public IReadOnlyList<string> NotTypes { get; init; } = [];

    public IReadOnlySet<string>? Senders { get; init; }

    public IReadOnlySet<string> NotSenders { get; init; } = new HashSet<string>();

    public IReadOnlySet<string>? Rooms { get; init; }

    public IReadOnlySet<string> NotRooms { get; init; } = new HashSet<string>();

    public bool? ContainsUrl { get; init; }

    public int? Limit { get; init; }

    public bool LazyLoadMembers { get; init; }

    public bool IncludeRedundantMembers { get; init; }

    /// <summary>For the push module's per-room contribution: per-thread notification counts.</summary>
    public bool UnreadThreadNotifications { get; init; }

    /// <summary>Whether anything beyond the room lists restricts which events pass (so fewer than asked may remain).</summary>
    public bool RestrictsEvents => Types is not null || NotTypes.Count > 0 || Senders is not null || NotSenders.Count > 0 || ContainsUrl is not null;

    internal static EventFilter Parse(JsonElement? element, string path)
    {
        if (element is not { } e)
        {
            return All;
        }

        int? limit = null;
        if (e.TryGetProperty("limit", out var l) && l.ValueKind != JsonValueKind.Null)
        {
            if (l.ValueKind != JsonValueKind.Number || !l.TryGetDouble(out var d) || double.IsNaN(d))
            {
                throw MatrixException.BadJson($"filter: {path}.limit must be a number");
            }

            limit = (int)Math.Clamp(Math.Floor(d), int.MinValue, int.MaxValue);
        }

        bool? containsUrl = null;
        if (e.TryGetProperty("contains_url", out var cu) && cu.ValueKind != JsonValueKind.Null)
        {
            containsUrl = SyncFilter.Bool(e, "contains_url", path + ".contains_url");
        }

        return new EventFilter
        {
            Types = SyncFilter.Strings(e, "types", path + ".types", null),
            NotTypes = SyncFilter.Strings(e, "not_types", path + ".not_types", null) ?? [],
            Senders = SyncFilter.Strings(e, "senders", path + ".senders", MatrixId.IsValidUserId)?.ToHashSet(StringComparer.Ordinal),
            NotSenders = SyncFilter.Strings(e, "not_senders", path + ".not_senders", MatrixId.IsValidUserId)?.ToHashSet(StringComparer.Ordinal) ?? [],
            Rooms = SyncFilter.Strings(e, "rooms", path + ".rooms", MatrixId.IsValidRoomId)?.ToHashSet(StringComparer.Ordinal),
            NotRooms = SyncFilter.Strings(e, "not_rooms", path + ".not_rooms", MatrixId.IsValidRoomId)?.ToHashSet(StringComparer.Ordinal) ?? [],
            ContainsUrl = containsUrl,
            Limit = limit,
            LazyLoadMembers = SyncFilter.Bool(e, "lazy_load_members", path + ".lazy_load_members"),
            IncludeRedundantMembers = SyncFilter.Bool(e, "include_redundant_members", path + ".include_redundant_members"),
            UnreadThreadNotifications = SyncFilter.Bool(e, "unread_thread_notifications", path + ".unread_thread_notifications"),
        };
    }

    public bool IncludesRoom(string roomId) => (Rooms is null || Rooms.Contains(roomId)) && !NotRooms.Contains(roomId);

    public bool MatchesType(string type) => !NotTypes.Any(t => RoomEventFilter.Glob(t, type)) && (Types is null || Types.Any(t => RoomEventFilter.Glob(t, type)));

    public bool MatchesSender(string sender) => !NotSenders.Contains(sender) && (Senders is null || Senders.Contains(sender));

    public bool Matches(string type, string sender, JsonElement? content = null)
    {
        if (!MatchesSender(sender) || !MatchesType(type))
        {
            return false;
        }

        if (ContainsUrl is { } wantsUrl)
        {
            var hasUrl = content is { ValueKind: JsonValueKind.Object } c && c.TryGetProperty("url", out var u) && u.ValueKind == JsonValueKind.String;
            if (hasUrl != wantsUrl)
            {
                return false;
            }
        }

        return true;
    }
}
