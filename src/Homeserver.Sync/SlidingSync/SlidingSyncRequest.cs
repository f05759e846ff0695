using System.Globalization;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Sync.Presence;

namespace Homeserver.Sync.SlidingSync;

/// <summary>What to send for a room: the longest timeline and the union of the required state of every rule that matched it.</summary>
public sealed record RoomConfig(int TimelineLimit, IReadOnlyList<RequiredState> RequiredState)
{
    public bool LazyMembers => RequiredState.Any(r => r.LazyMembers);

    public bool Matches(Homeserver.Rooms.StateKey key, string me) => RequiredState.Any(r => r.Matches(key, me));

    /// <summary>A canonical text of the required state (configs compare by it).</summary>
    public string StateCanonical => string.Join(";", RequiredState.Select(r => r.Canonical).Distinct().Order(StringComparer.Ordinal));

    public RoomConfig Combine(RoomConfig other) => new(Math.Max(TimelineLimit, other.TimelineLimit), [.. RequiredState, .. other.RequiredState]);
}

/// <summary>The filters of a sliding sync list (MSC4186 <c>SlidingRoomFilter</c>; absent means "no filter on that").</summary>
public sealed record SlidingListFilters(
    bool? IsDm = null,
    IReadOnlyList<string>? Spaces = null,
    bool? IsEncrypted = null,
    bool? IsInvite = null,
    IReadOnlyList<string?>? RoomTypes = null,
    IReadOnlyList<string?>? NotRoomTypes = null,
    string? RoomNameLike = null,
    IReadOnlyList<string>? Tags = null,
    IReadOnlyList<string>? NotTags = null);

/// <summary>One list: the rooms matching its filters, by recency, cut to its ranges (all of them when none).</summary>
public sealed record SlidingList(string Name, IReadOnlyList<(int Start, int End)>? Ranges, RoomConfig Config, SlidingListFilters Filters);

/// <summary>
/// A sliding sync request (MSC4186, as Synapse and Element X speak it at
/// <c>/_matrix/client/unstable/org.matrix.simplified_msc3575/sync</c>): <c>pos</c> and <c>timeout</c> as query
/// parameters (or in the body, as the proposal now has them), lists with <c>ranges</c> (or <c>range</c>),
/// room subscriptions and extensions.
/// </summary>
public sealed record SlidingSyncRequest(
    string ConnId,
    SlidingPosition? Pos,
    TimeSpan Timeout,
    string SetPresence,
    IReadOnlyDictionary<string, SlidingList> Lists,
    IReadOnlyDictionary<string, RoomConfig> RoomSubscriptions,
    IReadOnlyDictionary<string, JsonElement> Extensions)
{
    /// <summary>Synapse's limits: 100 lists, list names up to 64 bytes, timelines up to 1000 events.</summary>
    public const int MaxLists = 100;

    public const int MaxListNameLength = 64;

    public const int MaxTimelineLimit = 1000;

    /// <summary>The most rooms one subscription request names (a bound on the work one request can ask for).</summary>
    public const int MaxSubscriptions = 1000;

    /// <summary>Parses the body (a JSON object); <paramref name="queryPos"/> and <paramref name="queryTimeout"/> win over the body's.</summary>
    public static SlidingSyncRequest Parse(JsonElement body, string? queryPos, TimeSpan? queryTimeout, string? querySetPresence, TimeSpan maxTimeout)
    {
        var connId = OptionalString(body, "conn_id", "conn_id") ?? string.Empty;
        var posText = queryPos ?? OptionalString(body, "pos", "pos");
        SlidingPosition? pos = null;
        if (!string.IsNullOrEmpty(posText))
        {
            pos = SlidingPosition.TryParse(posText, out var p) ? p : throw MatrixException.InvalidParam("Invalid 'pos'");
        }

        var timeout = queryTimeout;
        if (timeout is null && body.TryGetProperty("timeout", out var t) && t.ValueKind != JsonValueKind.Null)
        {
            timeout = t.ValueKind == JsonValueKind.Number && t.TryGetInt64(out var ms) && ms >= 0
                ? TimeSpan.FromMilliseconds(Math.Min(ms, (long)maxTimeout.TotalMilliseconds))
                : throw MatrixException.InvalidParam("timeout must be a non-negative number of milliseconds");
        }

        var setPresence = querySetPresence ?? OptionalString(body, "set_presence", "set_presence") ?? PresenceStates.Online;
        if (!PresenceStates.IsValid(setPresence))
        {
            throw MatrixException.InvalidParam("set_presence must be one of online, unavailable, offline");
        }

        var lists = new Dictionary<string, SlidingList>(StringComparer.Ordinal);
        if (OptionalObject(body, "lists", "lists") is { } listsObj)
        {
            foreach (var list in listsObj.EnumerateObject())
            {
                if (lists.Count >= MaxLists)
                {
                    throw MatrixException.BadJson($"at most {MaxLists} lists");
                }

                if (list.Name.Length > MaxListNameLength)
                {
                    throw MatrixException.BadJson($"list names are at most {MaxListNameLength} characters");
                }

                lists[list.Name] = ParseList(list.Name, list.Value);
            }
        }

        var subscriptions = new Dictionary<string, RoomConfig>(StringComparer.Ordinal);
        if (OptionalObject(body, "room_subscriptions", "room_subscriptions") is { } subs)
        {
            foreach (var sub in subs.EnumerateObject())
            {
                if (subscriptions.Count >= MaxSubscriptions)
                {
                    throw MatrixException.BadJson($"at most {MaxSubscriptions} room subscriptions");
                }

                if (sub.Value.ValueKind != JsonValueKind.Object)
                {
                    throw MatrixException.BadJson("room_subscriptions values must be objects");
                }

                // Unknown or malformed room IDs are ignored like rooms the user cannot see.
                if (MatrixId.IsValidRoomId(sub.Name))
                {
                    subscriptions[sub.Name] = ParseConfig(sub.Value, "room_subscriptions." + sub.Name);
                }
            }
        }

        var extensions = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (OptionalObject(body, "extensions", "extensions") is { } ext)
        {
            foreach (var e in ext.EnumerateObject())
            {
                if (e.Value.ValueKind == JsonValueKind.Object)
                {
                    extensions[e.Name] = e.Value.Clone();
                }
                else if (e.Value.ValueKind != JsonValueKind.Null)
                {
                    throw MatrixException.BadJson($"extensions.{e.Name} must be an object");
                }
            }
        }

        return new SlidingSyncRequest(connId, pos, timeout ?? TimeSpan.Zero, setPresence, lists, subscriptions, extensions);
    }

    /// <summary>Whether an extension is asked for (<c>enabled: true</c>).</summary>
    public bool IsEnabled(string extension) =>
        Extensions.TryGetValue(extension, out var e) && e.TryGetProperty("enabled", out var on) && on.ValueKind == JsonValueKind.True;

    private static SlidingList ParseList(string name, JsonElement list)
    {
        var path = "lists." + name;
        if (list.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson($"{path} must be an object");
        }

        List<(int, int)>? ranges = null;
        if (list.TryGetProperty("ranges", out var rs) && rs.ValueKind != JsonValueKind.Null)
        {
            if (rs.ValueKind != JsonValueKind.Array)
            {
                throw MatrixException.BadJson($"{path}.ranges must be a list of [start, end] pairs");
            }

            ranges = rs.EnumerateArray().Select(r => ParseRange(r, path + ".ranges")).ToList();
        }
        else if (list.TryGetProperty("range", out var r) && r.ValueKind != JsonValueKind.Null)
        {
            ranges = [ParseRange(r, path + ".range")];
        }

        if (list.TryGetProperty("slow_get_all_rooms", out var all) && all.ValueKind == JsonValueKind.True)
        {
            ranges = null;
        }

        return new SlidingList(name, ranges, ParseConfig(list, path), ParseFilters(list, path));
    }

    private static (int, int) ParseRange(JsonElement r, string path)
    {
        if (r.ValueKind != JsonValueKind.Array || r.GetArrayLength() != 2
            || !TryGetInt32Safe(r[0], out var start) || !TryGetInt32Safe(r[1], out var end) || start < 0 || end < 0)
        {
            throw MatrixException.BadJson($"{path} must be [start, end] with non-negative integers");
        }

        if (end < start)
        {
            throw MatrixException.BadJson($"{path}: end must not be before start");
        }

        return (start, end);
    }

    private static RoomConfig ParseConfig(JsonElement obj, string path)
    {
        var limit = 0;
        if (obj.TryGetProperty("timeline_limit", out var l) && l.ValueKind != JsonValueKind.Null)
        {
            if (!TryGetInt32Safe(l, out limit) || limit < 0 || limit > MaxTimelineLimit)
            {
                throw MatrixException.BadJson($"{path}.timeline_limit must be an integer from 0 to {MaxTimelineLimit}");
            }
        }

        var required = obj.TryGetProperty("required_state", out var rs) && rs.ValueKind != JsonValueKind.Null
            ? RequiredState.Parse(rs, path + ".required_state")
            : RequiredState.None;
        return new RoomConfig(limit, [required]);
    }

    private static SlidingListFilters ParseFilters(JsonElement list, string path)
    {
        if (OptionalObject(list, "filters", path + ".filters") is not { } f)
        {
            return new SlidingListFilters();
        }

        path += ".filters";
        return new SlidingListFilters(
            IsDm: OptionalBool(f, "is_dm", path),
            Spaces: Strings(f, "spaces", path, allowNull: false)?.Select(s => s!).ToList(),
            IsEncrypted: OptionalBool(f, "is_encrypted", path),
            IsInvite: OptionalBool(f, "is_invite", path) ?? OptionalBool(f, "is_invited", path),
            RoomTypes: Strings(f, "room_types", path, allowNull: true),
            NotRoomTypes: Strings(f, "not_room_types", path, allowNull: true),
            RoomNameLike: OptionalString(f, "room_name_like", path + ".room_name_like"),
            Tags: Strings(f, "tags", path, allowNull: false)?.Select(s => s!).ToList(),
            NotTags: Strings(f, "not_tags", path, allowNull: false)?.Select(s => s!).ToList());
    }

    private static bool TryGetInt32Safe(JsonElement e, out int value)
    {
        value = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out value);
    }

    private static string? OptionalString(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw MatrixException.BadJson($"{path} must be a string");
    }

    private static bool? OptionalBool(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw MatrixException.BadJson($"{path}.{name} must be a boolean"),
        };
    }

    private static JsonElement? OptionalObject(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Object ? v : throw MatrixException.BadJson($"{path} must be an object");
    }

    private static List<string?>? Strings(JsonElement obj, string name, string path, bool allowNull)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw MatrixException.BadJson($"{path}.{name} must be a list");
        }

        return v.EnumerateArray().Select(i => i.ValueKind switch
        {
            JsonValueKind.String => i.GetString(),
            JsonValueKind.Null when allowNull => null,
            _ => throw MatrixException.BadJson($"{path}.{name} must contain strings"),
        }).ToList();
    }
}

/// <summary>
/// The <c>pos</c> of sliding sync: <c>&lt;connection position&gt;/&lt;sync token&gt;</c> (as Synapse writes it), where the
/// connection position names the per-connection state the server kept for the answer that gave it.
/// </summary>
public readonly record struct SlidingPosition(long Connection, SyncToken Token)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Connection}/{Token}");

    public static bool TryParse(string? text, out SlidingPosition pos)
    {
        pos = default;
        var slash = text?.IndexOf('/', StringComparison.Ordinal) ?? -1;
        if (slash <= 0
            || !long.TryParse(text.AsSpan(0, slash), NumberStyles.None, CultureInfo.InvariantCulture, out var connection)
            || !SyncToken.TryParse(text![(slash + 1)..], out var token))
        {
            return false;
        }

        pos = new SlidingPosition(connection, token);
        return true;
    }
}
