using System.Text.Json;
using Homeserver.Core;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Client;

/// <summary>
/// A RoomEventFilter (client-server API, "Filtering") as /context, /messages and /search take it: types and
/// senders (with '*' globs in types), rooms, contains_url, limit and lazy_load_members. Matching is done in memory.
/// </summary>
public sealed record RoomEventFilter
{
    public static readonly RoomEventFilter All = new();

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

    /// <summary>Parses a filter given inline as JSON; a bad shape is 400 M_BAD_JSON (anything else is M_NOT_JSON).</summary>
    public static RoomEventFilter ParseQuery(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return All;
        }

        try
        {
            using var doc = JsonDocument.Parse(text);
            return Parse(doc.RootElement);
        }
        catch (JsonException)
        {
            throw MatrixException.NotJson("filter is not JSON");
        }
    }

    public static RoomEventFilter Parse(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("A filter must be a JSON object");
        }

        int? limit = null;
        if (e.TryGetProperty("limit", out var l) && l.ValueKind != JsonValueKind.Null)
        {
            limit = l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var n) && n >= 0 ? n : throw MatrixException.BadJson("filter limit must be a non-negative integer");
        }

        return new RoomEventFilter
        {
            Types = Strings(e, "types"),
            NotTypes = Strings(e, "not_types") ?? [],
            Senders = Strings(e, "senders")?.ToHashSet(StringComparer.Ordinal),
            NotSenders = Strings(e, "not_senders")?.ToHashSet(StringComparer.Ordinal) ?? [],
            Rooms = Strings(e, "rooms")?.ToHashSet(StringComparer.Ordinal),
            NotRooms = Strings(e, "not_rooms")?.ToHashSet(StringComparer.Ordinal) ?? [],
            ContainsUrl = Bool(e, "contains_url"),
            Limit = limit,
            LazyLoadMembers = Bool(e, "lazy_load_members") ?? false,
            IncludeRedundantMembers = Bool(e, "include_redundant_members") ?? false,
        };
    }

    public bool IncludesRoom(string roomId) => (Rooms is null || Rooms.Contains(roomId)) && !NotRooms.Contains(roomId);

    public bool Matches(Pdu e)
    {
        if (!IncludesRoom(e.RoomId) || NotSenders.Contains(e.Sender) || (Senders is not null && !Senders.Contains(e.Sender)))
        {
            return false;
        }

        if (NotTypes.Any(t => Glob(t, e.Type)) || (Types is not null && !Types.Any(t => Glob(t, e.Type))))
        {
            return false;
        }

        if (ContainsUrl is { } wantsUrl)
        {
            var hasUrl = e.Content.ValueKind == JsonValueKind.Object && e.Content.TryGetProperty("url", out var url) && url.ValueKind == JsonValueKind.String;
            if (hasUrl != wantsUrl)
            {
                return false;
            }
        }

        return true;
    }

    public IReadOnlyList<StoredEvent> Apply(IReadOnlyList<StoredEvent> events) => ReferenceEquals(this, All) ? events : events.Where(e => Matches(e.Event)).ToList();

    /// <summary>'*' matches any run of characters (the spec's wildcard in type filters).</summary>
    public static bool Glob(string pattern, string value)
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

        var at = parts[0].Length;
        for (var i = 1; i < parts.Length - 1; i++)
        {
            var found = value.IndexOf(parts[i], at, StringComparison.Ordinal);
            if (found < 0)
            {
                return false;
            }

            at = found + parts[i].Length;
        }

        return value.Length - at >= parts[^1].Length && value.EndsWith(parts[^1], StringComparison.Ordinal);
    }

    private static List<string>? Strings(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw MatrixException.BadJson($"filter {name} must be an array of strings");
        }

        return v.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw MatrixException.BadJson($"filter {name} must be an array of strings")).ToList();
    }

    private static bool? Bool(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Null => null,
            _ => throw MatrixException.BadJson($"filter {name} must be a boolean"),
        } : null;
}
