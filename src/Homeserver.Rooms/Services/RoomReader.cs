using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Services;

/// <summary>
/// Reading rooms as a client: state, members, single events and pagination, each checked against the
/// requester's membership and the room's history visibility.
/// </summary>
public sealed partial class RoomReader(
    RoomService rooms,
    IRoomReadStore reads,
    IRoomStore store,
    HistoryVisibility visibility,
    ClientEventLoader loader,
    EventLookup lookup,
    IgnoredUsers? ignoredUsers = null,
    IRoomFeatureStore? features = null,
    IRemoteHistory? remoteHistory = null)
{
    /// <summary>How many events backfill asks another server for at once (as Synapse).</summary>
    public const int BackfillLimit = 100;

    /// <summary>How many of the timeline's backward extremities one backfill starts from (the newest ones first).</summary>
    public const int MaxBackfillExtremities = 5;

    /// <summary>What the requester can read of a room's state: the current state when joined, else the state when they left.</summary>
    public async Task<IReadOnlyDictionary<StateKey, string>> GetVisibleStateAsync(string userId, RoomRecord room, CancellationToken ct)
    {
        var head = await rooms.GetHeadAsync(room, ct);
        var memberId = head.State.GetValueOrDefault(new StateKey(EventTypes.Member, userId));
        var member = memberId is null ? null : (await lookup.GetEventsAsync([memberId], ct)).GetValueOrDefault(memberId);
        if (member?.Membership == Membership.Join)
        {
            return head.State;
        }

        if (await IsWorldReadableAsync(head, ct))
        {
            return head.State;
        }

        if (member?.Membership == Membership.Leave && member.Sender is not null)
        {
            // A former member sees the state as it was when they left; a banned one sees nothing (as Synapse's
            // check_user_in_room_or_world_readable with departed users, which lets in those who left, not the banned).
            var stored = (await reads.GetStoredEventsAsync([member.EventId], ct)).FirstOrDefault();
            if (stored?.StateBefore is { } before && await WasJoinedAsync(userId, before, ct))
            {
                return await reads.GetStateAsync(stored.StateAfter ?? before, ct);
            }
        }

        throw MatrixException.Forbidden("You are not allowed to view this room's state");
    }

    /// <summary>Events of the room by pagination token, filtered by visibility, as /messages returns them.</summary>
    public async Task<(IReadOnlyList<StoredEvent> Events, PaginationToken? End)> PaginateAsync(
        string userId, RoomRecord room, PaginationToken from, PaginationToken? to, bool backwards, int limit, CancellationToken ct)
    {
        var current = await RequireMayReadRoomAsync(userId, room, ct);
        var head = await rooms.GetHeadAsync(room, ct);
        if (backwards && current == Membership.Leave && from.Topological is null
            && head.State.GetValueOrDefault(new StateKey(EventTypes.Member, userId)) is { } memberId
            && (await reads.GetStoredEventsAsync([memberId], ct)).FirstOrDefault() is { StreamOrdering: { } leftAt } && leftAt < from.Stream)
        {
            // A former member pages back from where they left (as Synapse): a page from "now" would hold only events
            // they may not see, and come back empty or short.
            from = new PaginationToken(null, leftAt);
        }

        IReadOnlyList<StoredEvent> page;
        if (backwards && to is null && remoteHistory is { } remote)
        {
            // One event more than asked for: the event below the page, which in a linear stretch is the page's oldest
            // event's prev event, so that the gap check below needs no lookup in the common case.
            var (read, below) = await ReadWithEventBelowAsync(room, from, limit, ct);
            page = read;
            if (await BackfillAsync(remote, room, page, below, reachedOldest: below is null, ct))
            {
                // Other servers filled a gap in or just below the page (or before the oldest events we held): read it again.
                page = (await ReadWithEventBelowAsync(room, from, limit, ct)).Page;
            }
        }
        else
        {
            page = await reads.PaginateAsync(room.RoomNid, from, to, backwards, limit, ct);
        }

        // As Synapse: every page with events carries a token to continue from; only an empty page (the start or end
        // of the timeline was reached) has none. Clients and SyTest stop at the page without "end".
        PaginationToken? end = page.Count > 0 ? page[^1].Token : null;
        var visible = await visibility.FilterAsync(userId, current, page, ct);
        if (ignoredUsers is not null)
        {
            visible = await ignoredUsers.FilterAsync(userId, visible, ct);
        }

        return (visible, end);
    }

    /// <summary>
    /// Before a backwards page is answered, the gaps its events leave in the DAG (prev events we lack: we missed events
    /// while away, and <c>get_missing_events</c> could not bring them all), and, when it reached the oldest events we
    /// hold, the history before them (we joined late, over federation), are asked of the room's other servers, as
    /// Synapse's <c>maybe_backfill</c> does. True when the timeline gained events.
    /// </summary>
    private async Task<bool> BackfillAsync(
        IRemoteHistory remote, RoomRecord room, IReadOnlyList<StoredEvent> page, StoredEvent? below, bool reachedOldest, CancellationToken ct)
    {
        // The page's own prev events that lie outside it and are not the event below it (in a linear stretch: none),
        // newest first; those we hold neither in the timeline nor as rejected are gaps.
        var known = page.Select(e => e.Event.EventId).ToHashSet(StringComparer.Ordinal);
        if (below is not null)
        {
            known.Add(below.Event.EventId);
        }

        var outside = page.SelectMany(e => e.Event.PrevEventIds).Where(id => !known.Contains(id)).Distinct(StringComparer.Ordinal).ToList();
        var meta = outside.Count == 0 ? new Dictionary<string, EventMeta>() : await store.GetEventMetaAsync(outside, ct);
        var gaps = outside.Where(id => meta.GetValueOrDefault(id)?.Placed != true).ToList();
        if (reachedOldest)
        {
            gaps.AddRange((await reads.GetBackwardExtremitiesAsync(room.RoomNid, ct)).Select(e => e.EventId).Where(id => !gaps.Contains(id)));
        }

        return gaps.Count > 0 && await remote.BackfillAsync(room, [.. gaps.Take(MaxBackfillExtremities)], BackfillLimit, ct);
    }

    /// <summary>A backwards page of <paramref name="limit"/> events from <paramref name="from"/>, and the event below it (null at the oldest event we hold).</summary>
    private async Task<(IReadOnlyList<StoredEvent> Page, StoredEvent? Below)> ReadWithEventBelowAsync(RoomRecord room, PaginationToken from, int limit, CancellationToken ct)
    {
        var read = await reads.PaginateAsync(room.RoomNid, from, null, backwards: true, limit + 1, ct);
        return read.Count > limit ? (read.Take(limit).ToList(), read[limit]) : (read, null);
    }

    /// <summary>One event, if the requester may see it (404 otherwise, so that existence is not leaked).</summary>
    public async Task<StoredEvent> GetEventAsync(string userId, RoomRecord room, string eventId, CancellationToken ct)
    {
        // PostgreSQL text cannot hold NUL: such an ID names no event.
        var stored = eventId.Contains('\0', StringComparison.Ordinal) ? null : (await reads.GetStoredEventsAsync([eventId], ct)).FirstOrDefault();
        if (stored is null || stored.Event.RoomId != room.RoomId)
        {
            throw MatrixException.NotFound("Event not found");
        }

        var current = await rooms.GetMembershipAsync(room, userId, ct);
        var visible = await visibility.FilterAsync(userId, current, [stored], ct);
        return visible.Count == 1 ? visible[0] : throw MatrixException.NotFound("Event not found");
    }

    public Task<IReadOnlyList<StoredEvent>> GetStoredAsync(IReadOnlyCollection<string> ids, CancellationToken ct) => reads.GetStoredEventsAsync(ids, ct);

    public Task<ClientEventBatch> LoadForClientAsync(IReadOnlyList<StoredEvent> events, CancellationToken ct) => loader.LoadAsync(events, ct);

    /// <summary>The events' client form with bundled aggregations as <paramref name="userId"/> sees them.</summary>
    public Task<ClientEventBatch> LoadForClientAsync(IReadOnlyList<StoredEvent> events, string userId, CancellationToken ct) => loader.LoadAsync(events, userId, ct);

    public Task<IReadOnlyList<RoomMember>> GetMembersAsync(RoomRecord room, CancellationToken ct) => reads.GetMembersAsync(room.RoomNid, ct);

    internal async Task<bool> IsWorldReadableAsync(RoomHead head, CancellationToken ct)
    {
        if (!head.State.TryGetValue(new StateKey(HistoryVisibility.HistoryVisibilityType, string.Empty), out var id))
        {
            return false;
        }

        var ev = (await lookup.GetEventsAsync([id], ct)).GetValueOrDefault(id);
        return ev is not null && ev.Content.TryGetProperty("history_visibility", out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String
            && v.GetString() == HistoryVisibility.WorldReadable;
    }

    private async Task<bool> WasJoinedAsync(string userId, long snapshot, CancellationToken ct)
    {
        var key = new StateKey(EventTypes.Member, userId);
        var entries = await reads.GetStateEntriesAsync(snapshot, [key], ct);
        if (!entries.TryGetValue(key, out var id))
        {
            return false;
        }

        return (await lookup.GetEventsAsync([id], ct)).GetValueOrDefault(id)?.Membership == Membership.Join;
    }
}
