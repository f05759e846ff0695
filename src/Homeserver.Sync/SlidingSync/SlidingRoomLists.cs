using System.Text.Json;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Sync.Rooms;

namespace Homeserver.Sync.SlidingSync;

/// <summary>A room the user could see in sliding sync, with what lists filter and sort on.</summary>
public sealed class SlidingRoom(UserRoomMembership membership)
{
    public UserRoomMembership Membership { get; } = membership;

    public string RoomId => Membership.RoomId;

    /// <summary>The sort key: the stream position of the last event the user may see (their membership's when not joined).</summary>
    public long Recency { get; set; }

    public bool IsDm { get; set; }

    public bool? IsEncrypted { get; set; }

    public string? RoomType { get; set; }

    public string? Name { get; set; }

    public IReadOnlySet<string> Tags { get; set; } = new HashSet<string>();
}

/// <summary>
/// The room lists of sliding sync (MSC4186 "Lists"): every room the user is joined to, invited to, knocked on or
/// banned from, plus rooms they were removed from by someone else and rooms this connection already sent that they
/// left; filtered per list (<c>is_dm</c> from <c>m.direct</c>, <c>is_invite</c>, <c>is_encrypted</c>, <c>spaces</c>,
/// <c>room_types</c>, <c>room_name_like</c>, <c>tags</c>), ordered by recency, cut to the list's ranges.
/// </summary>
public sealed class SlidingRoomLists(IRoomReadStore reads, ISyncRoomStore store, ISyncDataStore data, EventLookup lookup, StrippedState stripped)
{
    public const string DirectType = "m.direct";
    public const string TagType = "m.tag";

    private static readonly StateKey CreateKey = new(EventTypes.Create, string.Empty);
    private static readonly StateKey EncryptionKey = new("m.room.encryption", string.Empty);
    private static readonly StateKey NameKey = new("m.room.name", string.Empty);

    /// <summary>The candidate rooms, with their recency and the data the requested filters need.</summary>
    public async Task<List<SlidingRoom>> GetCandidatesAsync(
        string userId, IReadOnlyList<UserRoomMembership> memberships, ConnectionState previous, long upTo, bool needsState, IReadOnlySet<string> ignored, CancellationToken ct)
    {
        // Leaves (were they kicks?) and invites (from someone ignored?) need their membership event's sender.
        var leaves = memberships.Where(m => m.Membership == Membership.Leave && !previous.Rooms.ContainsKey(m.RoomId)).ToList();
        var invites = ignored.Count == 0 ? [] : memberships.Where(m => m.Membership == Membership.Invite).ToList();
        var kicked = new HashSet<string>(StringComparer.Ordinal);
        var ignoredInvites = new HashSet<string>(StringComparer.Ordinal);
        if (leaves.Count > 0 || invites.Count > 0)
        {
            foreach (var e in await store.GetStoredEventsAsync(leaves.Concat(invites).Select(m => m.EventId).ToList(), ct))
            {
                if (e.Event.Membership == Membership.Invite && ignored.Contains(e.Event.Sender))
                {
                    ignoredInvites.Add(e.Event.RoomId);
                }
                else if (e.Event.Membership != Membership.Invite && e.Event.Sender != userId)
                {
                    kicked.Add(e.Event.RoomId);
                }
            }
        }

        var rooms = memberships
            .Where(m => !ignoredInvites.Contains(m.RoomId) || m.Membership != Membership.Invite)
            .Where(m => m.Membership != Membership.Leave || previous.Rooms.ContainsKey(m.RoomId) || kicked.Contains(m.RoomId))
            .Select(m => new SlidingRoom(m))
            .ToList();

        var joined = rooms.Where(r => r.Membership.Membership == Membership.Join).Select(r => r.Membership.RoomNid).ToList();
        var last = await store.GetLastPositionsAsync(joined, upTo, null, ct);
        foreach (var r in rooms)
        {
            r.Recency = r.Membership.Membership == Membership.Join && last.TryGetValue(r.Membership.RoomNid, out var p) ? p : r.Membership.StreamOrdering;
        }

        var accountData = await data.GetAccountDataAsync(userId, 0, upTo, ct);
        var direct = DirectRooms(accountData.LastOrDefault(a => a.RoomId.Length == 0 && a.Type == DirectType)?.Content);
        var tags = accountData.Where(a => a.Type == TagType && a.RoomId.Length > 0).ToDictionary(a => a.RoomId, a => TagNames(a.Content), StringComparer.Ordinal);
        foreach (var r in rooms)
        {
            r.IsDm = direct.Contains(r.RoomId);
            r.Tags = tags.GetValueOrDefault(r.RoomId) ?? new HashSet<string>();
        }

        if (needsState)
        {
            await ReadStateAsync(rooms, upTo, ct);
        }

        return rooms.OrderByDescending(r => r.Recency).ThenBy(r => r.RoomId, StringComparer.Ordinal).ToList();
    }

    /// <summary>The rooms of a list, in order, before its ranges apply.</summary>
    public async Task<List<SlidingRoom>> FilterAsync(IReadOnlyList<SlidingRoom> sorted, SlidingListFilters f, long upTo, CancellationToken ct)
    {
        HashSet<string>? spaceChildren = null;
        if (f.Spaces is { } spaces)
        {
            spaceChildren = await SpaceChildrenAsync(sorted, spaces, upTo, ct);
        }

        return sorted.Where(r =>
        {
            var isInvite = r.Membership.Membership == Membership.Invite;
            return (f.IsDm is not { } dm || r.IsDm == dm)
                && (f.IsInvite is not { } inv || isInvite == inv)
                && (f.IsEncrypted is not { } enc || (r.IsEncrypted ?? false) == enc)
                && (f.RoomTypes is not { } types || types.Contains(r.RoomType))
                && (f.NotRoomTypes is not { } notTypes || !notTypes.Contains(r.RoomType))
                && (f.RoomNameLike is not { } like || (r.Name?.Contains(like, StringComparison.OrdinalIgnoreCase) ?? false))
                && (f.Tags is not { Count: > 0 } tags || tags.Any(r.Tags.Contains))
                && (f.NotTags is not { } notTags || !notTags.Any(r.Tags.Contains))
                && (spaceChildren is null || spaceChildren.Contains(r.RoomId));
        }).ToList();
    }

    /// <summary>Whether any list's filters need room state (type, encryption, name, spaces).</summary>
    public static bool NeedsState(IEnumerable<SlidingList> lists) =>
        lists.Any(l => l.Filters.IsEncrypted is not null || l.Filters.RoomTypes is not null || l.Filters.NotRoomTypes is not null
            || l.Filters.RoomNameLike is not null || l.Filters.Spaces is not null);

    private async Task ReadStateAsync(List<SlidingRoom> rooms, long upTo, CancellationToken ct)
    {
        var positions = rooms.Where(r => r.Membership.Membership is not (Membership.Invite or Membership.Knock))
            .Select(r => (r.Membership.RoomNid, Math.Min(upTo, r.Membership.Membership == Membership.Join ? upTo : r.Membership.StreamOrdering)))
            .ToList();
        var snapshots = await store.GetStateSnapshotsAtAsync(positions, ct);
        foreach (var r in rooms)
        {
            if (r.Membership.Membership is Membership.Invite or Membership.Knock)
            {
                // Only what the invite or knock carried: the stripped state.
                foreach (var e in await stripped.BuildAsync(r.Membership, ct))
                {
                    Apply(r, Str(e, "type"), Str(e, "state_key"), e.TryGetProperty("content", out var c) ? c : default);
                }

                continue;
            }

            if (!snapshots.TryGetValue(r.Membership.RoomNid, out var snapshot))
            {
                continue;
            }

            // The whole state comes from the snapshot cache; asking for single keys could reach the database.
            var state = await reads.GetStateAsync(snapshot, ct);
            var ids = new[] { CreateKey, EncryptionKey, NameKey }.Select(k => state.GetValueOrDefault(k)).OfType<string>().ToList();
            foreach (var ev in (await lookup.GetEventsAsync(ids, ct)).Values)
            {
                Apply(r, ev.Type, ev.StateKey, ev.Content);
            }
        }
    }

    private static void Apply(SlidingRoom r, string? type, string? stateKey, JsonElement content)
    {
        if (stateKey != string.Empty)
        {
            return;
        }

        switch (type)
        {
            case EventTypes.Create:
                r.RoomType = Str(content, "type");
                break;
            case "m.room.encryption":
                r.IsEncrypted = true;
                break;
            case "m.room.name":
                r.Name = Str(content, "name");
                break;
        }

        r.IsEncrypted ??= false;
    }

    private async Task<HashSet<string>> SpaceChildrenAsync(IReadOnlyList<SlidingRoom> rooms, IReadOnlyList<string> spaces, long upTo, CancellationToken ct)
    {
        var children = new HashSet<string>(StringComparer.Ordinal);
        var joinedSpaces = rooms.Where(r => r.Membership.Membership == Membership.Join && spaces.Contains(r.RoomId)).ToList();
        var snapshots = await store.GetStateSnapshotsAtAsync(joinedSpaces.Select(r => (r.Membership.RoomNid, upTo)).ToList(), ct);
        foreach (var snapshot in snapshots.Values)
        {
            var state = await reads.GetStateAsync(snapshot, ct);
            var childIds = state.Where(kv => kv.Key.Type == "m.space.child").ToList();
            var events = await lookup.GetEventsAsync(childIds.Select(kv => kv.Value), ct);
            foreach (var (key, id) in childIds)
            {
                // A child without "via" has been removed from the space.
                if (events.TryGetValue(id, out var e) && e.Content.ValueKind == JsonValueKind.Object
                    && e.Content.TryGetProperty("via", out var via) && via.ValueKind == JsonValueKind.Array && via.GetArrayLength() > 0)
                {
                    children.Add(key.Key);
                }
            }
        }

        return children;
    }

    /// <summary>The rooms named in <c>m.direct</c> (client-written, so anything malformed is skipped).</summary>
    public static HashSet<string> DirectRooms(string? content)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        if (content is null)
        {
            return result;
        }

        try
        {
            using var doc = JsonDocument.Parse(content);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (var user in doc.RootElement.EnumerateObject().Where(u => u.Value.ValueKind == JsonValueKind.Array))
                {
                    result.UnionWith(user.Value.EnumerateArray().Where(r => r.ValueKind == JsonValueKind.String).Select(r => r.GetString()!));
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: no DM rooms.
        }

        return result;
    }

    private static HashSet<string> TagNames(string content)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(content);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("tags", out var tags) && tags.ValueKind == JsonValueKind.Object)
            {
                result.UnionWith(tags.EnumerateObject().Select(t => t.Name));
            }
        }
        catch (JsonException)
        {
            // Not JSON: no tags.
        }

        return result;
    }

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
