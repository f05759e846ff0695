using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Sync.Rooms;

/// <summary>
/// Builds the timeline, state and summary of many rooms for one sync answer, batching the database work:
/// <list type="number">
/// <item>the latest events of every room's window (one query), filtered by history visibility and the timeline
/// filter, topped up room by room only when filtering left fewer events than the limit;</item>
/// <item>the state snapshots at the end of empty windows and at <c>since</c> for limited rooms (one query each);</item>
/// <item>member counts and heroes of the rooms that need a summary (two queries);</item>
/// <item>state at the start of each timeline (full, or the delta since the last sync when limited), with
/// lazy-loaded members chosen as the spec asks and redundant ones dropped per device;</item>
/// <item>every state event of every room (one query).</item>
/// </list>
/// State snapshots themselves come from the storage's in-memory snapshot cache.
/// </summary>
public sealed class SyncRoomBuilder(ISyncRoomStore store, IRoomReadStore reads, HistoryVisibility visibility, EventLookup lookup, LazyMemberCache lazyCache)
{
    /// <summary>How many heroes a summary names (the spec: the first 5).</summary>
    public const int HeroCount = 5;

    private static readonly StateKey[] NameKeys = [new("m.room.name", string.Empty), new("m.room.canonical_alias", string.Empty)];

    /// <summary>How many extra queries may top up a timeline thinned by filters.</summary>
    private const int MaxTopUps = 3;

    /// <summary>The fewest events a look further back loads (the first; each later one loads twice the one before).</summary>
    private const int MinTopUp = 10;

    private sealed class Work(RoomWork request)
    {
        public RoomWork Request { get; } = request;

        public RoomResult Result { get; } = new(request.Membership.RoomId);

        public long? StartSnapshot { get; set; }

        public long? EndSnapshot { get; set; }

        public bool NeedsSummary { get; set; }
    }

    /// <summary>Builds the rooms; member events put in the answers are recorded by <see cref="MarkSent"/> once the caller keeps them.</summary>
    public async Task<IReadOnlyList<RoomResult>> BuildAsync(Requester requester, IReadOnlyList<RoomWork> rooms, SyncFilter filter, CancellationToken ct)
    {
        var works = rooms.Select(r => new Work(r)).ToList();
        await BuildTimelinesAsync(requester.UserId, works, filter, ct);
        await ResolveSnapshotsAsync(works, ct);
        await AddStateAndSummariesAsync(requester, works, filter, ct);
        return works.Select(w => w.Result).ToList();
    }

    /// <summary>Only the timelines (steps 1 and 2), for sliding sync, which chooses state its own way.</summary>
    public async Task<IReadOnlyList<RoomTimeline>> BuildTimelinesAsync(Requester requester, IReadOnlyList<RoomWork> rooms, SyncFilter filter, CancellationToken ct)
    {
        var works = rooms.Select(r => new Work(r)).ToList();
        await BuildTimelinesAsync(requester.UserId, works, filter, ct);
        await ResolveSnapshotsAsync(works, ct);
        return works.Select(w => new RoomTimeline(w.Request, w.Result, w.StartSnapshot, w.EndSnapshot)).ToList();
    }

    private async Task AddStateAndSummariesAsync(Requester requester, List<Work> works, SyncFilter filter, CancellationToken ct)
    {

        var summaries = await BuildSummariesAsync(requester.UserId, works, ct);
        var stateIds = new Dictionary<Work, List<string>>();
        foreach (var w in works)
        {
            stateIds[w] = await ChooseStateAsync(requester, w, filter, summaries.GetValueOrDefault(w)?.Heroes, ct);
        }

        var allIds = stateIds.Values.SelectMany(ids => ids).Distinct(StringComparer.Ordinal).ToList();
        var stored = (await store.GetStoredEventsAsync(allIds, ct)).ToDictionary(e => e.EventId, StringComparer.Ordinal);
        foreach (var w in works)
        {
            foreach (var id in stateIds[w])
            {
                if (stored.TryGetValue(id, out var e) && filter.State.IncludesRoom(w.Request.Membership.RoomId) && filter.State.Matches(e.Event.Type, e.Event.Sender, e.Event.Content))
                {
                    w.Result.State.Add(e);
                }
            }

            w.Result.Summary = summaries.GetValueOrDefault(w);
        }
    }

    /// <summary>Remembers the member events of rooms that went into an answer (for dropping redundant ones next time).</summary>
    public void MarkSent(Requester requester, IEnumerable<RoomResult> rooms)
    {
        foreach (var room in rooms)
        {
            var members = room.State.Concat(room.Timeline)
                .Where(e => e.Event.Type == EventTypes.Member && e.Event.StateKey is not null)
                .Select(e => (e.Event.StateKey!, e.EventId))
                .ToList();
            if (members.Count > 0)
            {
                lazyCache.MarkSent(requester.UserId, requester.DeviceId, room.RoomId, members);
            }
        }
    }

    private async Task BuildTimelinesAsync(string userId, List<Work> works, SyncFilter filter, CancellationToken ct)
    {
        var windows = works.Where(w => !w.Request.OnlyMembershipEvent)
            .Select(w => new TimelineWindow(w.Request.Membership.RoomNid, w.Request.TimelineAfter, w.Request.UpTo))
            .Distinct()
            .ToList();
        var maxLimit = works.Count == 0 ? 0 : works.Max(w => w.Request.TimelineLimit ?? filter.TimelineLimit);
        var latest = await store.GetLatestEventsAsync(windows, maxLimit + 1, ct);
        foreach (var w in works)
        {
            var request = w.Request;
            var room = w.Result;
            var limit = request.TimelineLimit ?? filter.TimelineLimit;
            if (request.OnlyMembershipEvent)
            {
                var own = (await store.GetStoredEventsAsync([request.Membership.EventId], ct)).FirstOrDefault();
                if (own is not null)
                {
                    room.Timeline.Add(own);
                    room.PrevBatch = own.TokenBefore.ToString();
                }

                continue;
            }

            var fetched = (latest.GetValueOrDefault(request.Membership.RoomNid) ?? [])
                .Where(e => e.StreamOrdering > request.TimelineAfter && e.StreamOrdering <= request.UpTo)
                .Take(limit + 1)
                .ToList();
            if (limit == 0)
            {
                room.Limited = fetched.Count > 0;
                room.PrevBatch = new PaginationToken(null, request.UpTo).ToString();
                w.EndSnapshot = fetched.FirstOrDefault()?.StateAfter;
                continue;
            }

            var hasMore = fetched.Count > limit;
            var considered = fetched.Take(limit).ToList();
            var membership = request.Joined ? Membership.Join : request.Membership.Membership;
            var currentState = fetched.Count > 0 ? fetched[0].StateAfter : null;
            var kept = await FilterTimelineAsync(userId, membership, request.Membership.RoomId, considered, filter, currentState, ct);

            // Filters thinned the page: look further back, a few times at most, each page at least ten events and
            // twice the one before (as Synapse's _load_filtered_recents), so that a filter matching one event in
            // twenty still finds it.
            for (var i = 0; i < MaxTopUps && hasMore && kept.Count < limit; i++)
            {
                var oldest = considered[^1].StreamOrdering!.Value;
                var want = Math.Max((limit - kept.Count) * 3, MinTopUp) << i;
                var older = await reads.GetLatestEventsAsync(request.Membership.RoomNid, request.TimelineAfter, oldest - 1, want + 1, ct);
                hasMore = older.Count > want;
                var page = older.Take(want).ToList();
                if (page.Count == 0)
                {
                    break;
                }

                considered.AddRange(page);
                var extra = await FilterTimelineAsync(userId, membership, request.Membership.RoomId, page, filter, currentState, ct);
                kept.AddRange(extra);
            }

            // kept is newest first: the timeline is the newest `limit` of them, oldest first.
            var timeline = kept.Take(limit).Reverse().ToList();
            room.Timeline.AddRange(timeline);
            room.Limited = hasMore || kept.Count > limit || request.JoinedSinceToken;
            var oldestShown = timeline.FirstOrDefault();
            room.PrevBatch = oldestShown is not null
                ? new PaginationToken(null, oldestShown.StreamOrdering!.Value - 1).ToString()
                : new PaginationToken(null, considered.Count > 0 ? considered[^1].StreamOrdering!.Value - 1 : request.UpTo).ToString();
            w.StartSnapshot = oldestShown?.StateBefore;
            w.EndSnapshot = fetched.Count > 0 ? fetched[0].StateAfter : null;
        }
    }

    /// <summary>Newest-first events the user may see that pass the timeline filter (order kept).</summary>
    private async Task<List<StoredEvent>> FilterTimelineAsync(
        string userId, string membership, string roomId, List<StoredEvent> newestFirst, SyncFilter filter, long? currentState, CancellationToken ct)
    {
        if (!filter.Timeline.IncludesRoom(roomId))
        {
            return [];
        }

        // A user always sees their own membership events (as Synapse), so that a leave or a kick is shown even
        // when history visibility would hide what follows the user's membership.
        // The filter may hand back a redacted copy (an erased sender's event for someone who was not there): that copy is shown.
        var shown = (await visibility.FilterAsync(userId, membership, newestFirst, ct)).ToDictionary(e => e.EventId, StringComparer.Ordinal);
        var visible = shown.Keys.ToHashSet(StringComparer.Ordinal);

        // State events that are the room's current state are shown even when history visibility hides the time they
        // were sent (Synapse's always_include_ids): a user who rejoins sees who joined meanwhile in the timeline too.
        var hiddenState = newestFirst.Where(e => e.Event.StateKey is not null && !visible.Contains(e.EventId)).ToList();
        if (hiddenState.Count > 0 && currentState is { } snapshot)
        {
            var current = await reads.GetStateEntriesAsync(snapshot, hiddenState.Select(e => new StateKey(e.Event.Type, e.Event.StateKey!)).Distinct().ToList(), ct);
            visible.UnionWith(hiddenState.Where(e => current.TryGetValue(new StateKey(e.Event.Type, e.Event.StateKey!), out var id) && id == e.EventId).Select(e => e.EventId));
        }

        return newestFirst
            .Select(e => shown.GetValueOrDefault(e.EventId) ?? e)
            .Where(e => visible.Contains(e.EventId) || (e.Event.Type == EventTypes.Member && e.Event.StateKey == userId))
            .Where(e => e.Event.StateKey is not null || !filter.IgnoredUsers.Contains(e.Event.Sender))
            .Where(e => filter.Timeline.Matches(e.Event.Type, e.Event.Sender, e.Event.Content))
            .ToList();
    }

    /// <summary>Fills the snapshots that timelines did not give: the state at the end of empty windows, and at <c>since</c>.</summary>
    private async Task ResolveSnapshotsAsync(List<Work> works, CancellationToken ct)
    {
        var needEnd = works.Where(w => !w.Request.OnlyMembershipEvent && w.EndSnapshot is null)
            .Select(w => (w.Request.Membership.RoomNid, w.Request.UpTo))
            .Distinct()
            .ToList();
        var ends = await store.GetStateSnapshotsAtAsync(needEnd, ct);
        foreach (var w in works)
        {
            if (w.Request.OnlyMembershipEvent)
            {
                continue;
            }

            w.EndSnapshot ??= ends.TryGetValue(w.Request.Membership.RoomNid, out var s) ? s : null;
            w.StartSnapshot ??= w.EndSnapshot;
        }
    }

    private async Task<Dictionary<Work, RoomSummaryResult>> BuildSummariesAsync(string userId, List<Work> works, CancellationToken ct)
    {
        foreach (var w in works)
        {
            var r = w.Request;
            w.NeedsSummary = r.Joined && !r.OnlyMembershipEvent
                && (r.StateSince is null || r.NewlyJoined || w.Result.Timeline.Any(e => e.Event.Type == EventTypes.Member) || (w.Result.Limited && r.StateSince is not null));
        }

        var needed = works.Where(w => w.NeedsSummary).ToList();
        var result = new Dictionary<Work, RoomSummaryResult>();
        if (needed.Count == 0)
        {
            return result;
        }

        var counts = await store.GetMemberSummariesAsync(needed.Select(w => w.Request.Membership.RoomNid).Distinct().ToList(), userId, HeroCount, ct);

        // Heroes only for rooms without a name or canonical alias (as Synapse; the spec requires them only then).
        // (From the whole state, which the snapshot cache holds: looking up single keys would ask the database
        // about keys no room has ever used, such as a canonical alias.)
        var nameIds = new Dictionary<Work, List<string>>();
        foreach (var w in needed)
        {
            var state = w.EndSnapshot is { } end ? await reads.GetStateAsync(end, ct) : new Dictionary<StateKey, string>();
            nameIds[w] = NameKeys.Select(k => state.GetValueOrDefault(k)).OfType<string>().ToList();
        }

        var nameEvents = await lookup.GetEventsAsync(nameIds.Values.SelectMany(v => v).Distinct(StringComparer.Ordinal), ct);
        foreach (var w in needed)
        {
            var c = counts.GetValueOrDefault(w.Request.Membership.RoomNid) ?? new RoomMemberSummary(0, 0, []);
            var named = nameIds[w].Any(id => nameEvents.TryGetValue(id, out var e) && HasNonEmpty(e, e.Type == "m.room.name" ? "name" : "alias"));
            result[w] = new RoomSummaryResult(named ? null : c.Heroes, c.Joined, c.Invited);
        }

        return result;
    }

    private static bool HasNonEmpty(Pdu e, string field) =>
        e.Content.ValueKind == JsonValueKind.Object && e.Content.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0;

    /// <summary>
    /// The state event IDs to send for one room (client-server API, "Syncing" and "Lazy-loading room members"):
    /// the full state at the start of the timeline, or the delta since the last sync when the timeline is limited;
    /// with lazy-loading, members only for the timeline's senders, the heroes and (on joining or full state) the
    /// requester, minus those already sent to this device, except that members changed in a gap are always sent.
    /// </summary>
    private async Task<List<string>> ChooseStateAsync(Requester requester, Work w, SyncFilter filter, IReadOnlyList<string>? heroes, CancellationToken ct)
    {
        var r = w.Request;
        if (r.OnlyMembershipEvent || w.StartSnapshot is not { } start)
        {
            return [];
        }

        var room = w.Result;
        var stateAtStart = await reads.GetStateAsync(start, ct);
        var timelineIds = room.Timeline.Select(e => e.EventId).ToHashSet(StringComparer.Ordinal);
        var full = r.StateSince is null;
        IReadOnlyDictionary<StateKey, string> delta;
        var gapMembers = new HashSet<string>(StringComparer.Ordinal);
        if (full)
        {
            delta = stateAtStart;
        }
        else if (room.Limited)
        {
            var atSince = await store.GetStateSnapshotsAtAsync([(r.Membership.RoomNid, r.StateSince!.Value)], ct);
            var stateAtSince = atSince.TryGetValue(r.Membership.RoomNid, out var ss) ? await reads.GetStateAsync(ss, ct) : new Dictionary<StateKey, string>();
            var changed = new Dictionary<StateKey, string>();
            foreach (var (key, id) in stateAtStart)
            {
                if (!stateAtSince.TryGetValue(key, out var old) || old != id)
                {
                    changed[key] = id;
                    if (key.Type == EventTypes.Member)
                    {
                        gapMembers.Add(key.Key);
                    }
                }
            }

            delta = changed;
        }
        else
        {
            delta = new Dictionary<StateKey, string>();
        }

        if (!filter.LazyLoadMembers)
        {
            return delta.Where(kv => !timelineIds.Contains(kv.Value)).Select(kv => kv.Value).ToList();
        }

        // Lazy-loading: which members this timeline needs.
        var wanted = room.Timeline.Select(e => e.Event.Sender).ToHashSet(StringComparer.Ordinal);
        if (full || r.NewlyJoined)
        {
            wanted.Add(requester.UserId);
        }

        foreach (var hero in heroes ?? [])
        {
            wanted.Add(hero);
        }

        var chosen = new List<string>();
        foreach (var (key, id) in delta)
        {
            if (key.Type != EventTypes.Member || gapMembers.Contains(key.Key))
            {
                if (!timelineIds.Contains(id))
                {
                    chosen.Add(id);
                }
            }
        }

        foreach (var member in wanted)
        {
            if (gapMembers.Contains(member) || !stateAtStart.TryGetValue(new StateKey(EventTypes.Member, member), out var id) || timelineIds.Contains(id))
            {
                continue;
            }

            var redundant = !filter.IncludeRedundantMembers && !full && lazyCache.WasSent(requester.UserId, requester.DeviceId, room.RoomId, member, id);
            if (!redundant)
            {
                chosen.Add(id);
            }
        }

        return chosen;
    }
}
