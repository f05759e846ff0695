using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Streams;
using Homeserver.Push.Rules;
using Homeserver.Rooms;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;
using Microsoft.Extensions.Logging;

namespace Homeserver.Push.Notifications;

/// <summary>
/// Runs every local member's push rules over every persisted event ("Server behaviour" of push): the
/// notifications that result feed the unread counts of <c>/sync</c>, <c>GET /notifications</c> and the pushers.
///
/// Pipeline (one background consumer, in commit order):
/// 1. <see cref="OnCommitted"/> (on the room's writer, before the batch's stream positions are released) only queues the
///    batch and records its stream positions as pending;
/// 2. the room's push state (joined member count, local members and their display names, power levels) is taken from a
///    cache keyed by the room's state snapshot, and updated from the member events that changed when the state changed;
/// 3. each event gets its thread (following up to 3 relations to an <c>m.thread</c> relation, as the spec recommends) and
///    one <see cref="PushEventContext"/>, against which each recipient's compiled rules are checked;
/// 4. notifications (and the sender's implicit read position: sending an event marks the room read up to it) are
///    stored in one round trip, together with those of the other batches queued meanwhile; pushers are poked, and the
///    pending positions are released so that waiting syncs (<see cref="WaitForAsync"/>) answer with counts that include
///    the events they show.
///
/// Crash recovery, as the search indexer's (<see cref="RecordingCommitConsumer{TItem}"/>): each store also records the
/// position at or below which every event is evaluated. At start-up, the events after it are evaluated again (their
/// notifications were in memory only); notifications already stored are kept.
/// </summary>
public sealed partial class NotificationEvaluator
    : RecordingCommitConsumer<(RoomRecord Room, IReadOnlyList<PersistedEvent> Events, RoomHead Head)>, IRoomCommitListener
{
    /// <summary>Relations followed to find an event's thread ("not recommended that the server traverse infinitely").</summary>
    public const int MaxThreadHops = 3;

    public const string MainThread = "main";

    private const int RoomCacheLimit = 2_000;

    private const int RecoveryPage = 500;

    private readonly ConcurrentDictionary<string, RoomPushState> _rooms = new(StringComparer.Ordinal);
    private readonly string _serverName;
    private readonly EventLookup _lookup;
    private readonly IRoomStore _roomStore;
    private readonly PushRuleService _rules;
    private readonly INotificationStore _store;
    private readonly IPushDeliveryTrigger _delivery;
    private readonly TimeProvider _time;
    private readonly ILogger<NotificationEvaluator> _logger;

    public NotificationEvaluator(
        HomeserverConfig config,
        EventLookup lookup,
        IRoomStore roomStore,
        StreamPositions streams,
        PushRuleService rules,
        INotificationStore store,
        IPushDeliveryTrigger delivery,
        TimeProvider time,
        ILogger<NotificationEvaluator> logger)
        : base(streams, time, StoreInterval, logger)
    {
        _serverName = config.ServerName;
        _lookup = lookup;
        _roomStore = roomStore;
        _rules = rules;
        _store = store;
        _delivery = delivery;
        _time = time;
        _logger = logger;
    }

    /// <summary>Called on the room's writer after each committed batch, before its positions are released: only queues the work.</summary>
    public void OnCommitted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head, bool searchDeferred)
    {
        var timeline = events.Where(e => e.StreamOrdering is not null && !e.SoftFailed).ToList();
        if (timeline.Count == 0)
        {
            return;
        }

        Enqueue((room, timeline, head), timeline.Select(e => e.StreamOrdering!.Value));
    }

    /// <summary>The most queued batches evaluated together and stored in one round trip (when writes come faster than that).</summary>
    private const int MaxBatchesPerStore = 64;

    /// <summary>
    /// The shortest time between the starts of two stores. Under load the evaluator waits out the rest of it and stores
    /// everything queued meanwhile in one round trip. Each store is a transaction with its own commit and a statement per
    /// read position, and one store per batch of the room's writer cost PostgreSQL more than the rows it wrote. With
    /// 8 senders in one room, that was one store for every ~5 events; 10 ms took the whole machine's CPU per send down
    /// by 23%, and 40 ms took the stores' statements from 59 to 18 µs of PostgreSQL per send (a read position moves once
    /// per store, and more rows are left out because their recipient's own later send already covers them; ROOMS.md).
    /// A quiet room's notifications are stored at once. Under load they are stored at most this much later, and a sync
    /// waiting for the counts of the events it shows waits that much longer.
    /// </summary>
    private static readonly TimeSpan StoreInterval = TimeSpan.FromMilliseconds(40);

    protected override async Task StoreQueuedAsync(CancellationToken ct)
    {
        var items = new List<(RoomRecord Room, IReadOnlyList<PersistedEvent> Events, RoomHead Head)>();
        while (items.Count < MaxBatchesPerStore && TryDequeue(out var item))
        {
            items.Add(item);
        }

        try
        {
            var through = DoneThrough(items.SelectMany(i => i.Events).Select(e => e.StreamOrdering!.Value).ToHashSet());
            if (await StoreWithRetriesAsync(c => EvaluateAndStoreAsync(items, through, recovering: false, c), ct) is { } failure)
            {
                // Given up (something in these events, not the database): they get no notifications, and the next
                // store's position passes them, rather than holding every later one.
                LogEvaluationFailed(failure, items[0].Room.RoomId);
            }
        }
        finally
        {
            foreach (var item in items)
            {
                Release(item.Events);
            }
        }
    }

    protected override Task RecordAsync(long through, CancellationToken ct) => _store.AddAsync([], [], through, mayRepeat: false, ct);

    /// <summary>
    /// Evaluates the events after the recorded position again, up to the stream's position at start-up, page by page:
    /// a page's events of one room on one state snapshot are one batch, evaluated against the state after them (each
    /// snapshot read once per page, however the rooms' events interleave; a batch's notifications do not depend on the
    /// order of the others).
    /// </summary>
    protected override async Task RecoverAsync(CancellationToken ct)
    {
        var after = Recorded = await _store.GetEvaluatedThroughAsync(ct);
        var upTo = StreamCurrent;
        var rooms = new Dictionary<string, RoomRecord?>(StringComparer.Ordinal);
        var evaluated = 0;
        while (after < upTo)
        {
            var page = await _store.GetUnevaluatedAsync(after, upTo, RecoveryPage, ct);
            var pdus = await _lookup.GetEventsAsync(page.Select(e => e.EventId).ToList(), ct);
            var items = new List<(RoomRecord Room, IReadOnlyList<PersistedEvent> Events, RoomHead Head)>();
            foreach (var run in page.GroupBy(e => (e.RoomId, e.StateAfter)).Select(g => g.ToList()))
            {
                var roomId = run[0].RoomId;
                if (!rooms.TryGetValue(roomId, out var room))
                {
                    rooms[roomId] = room = await _roomStore.GetRoomAsync(roomId, ct);
                }

                var events = run.Where(e => pdus.ContainsKey(e.EventId)).Select(e => new PersistedEvent(pdus[e.EventId], e.StreamOrdering, false)).ToList();
                if (room is null || events.Count == 0)
                {
                    continue;
                }

                var state = run[0].StateAfter is { } snapshot ? await _roomStore.GetSnapshotStateAsync(snapshot, ct) : new Dictionary<StateKey, string>();
                items.Add((room, events, new RoomHead(room, [], run[0].StateAfter ?? 0, state, run[^1].StreamOrdering)));
                evaluated += events.Count;
            }

            var through = page.Count < RecoveryPage ? upTo : page[^1].StreamOrdering;

            // Events committed meanwhile (since start-up) are above upTo; the recorded position never passes one.
            through = Math.Max(after, Math.Min(through, DoneThrough(NoPositions)));
            await EvaluateAndStoreAsync(items, through, recovering: true, ct);
            if (page.Count < RecoveryPage)
            {
                break;
            }

            after = page[^1].StreamOrdering;
            LogRecovering(evaluated, after, upTo);
        }

        if (evaluated > 0)
        {
            LogRecovered(evaluated);
        }
    }

    /// <summary>
    /// Evaluates the queued batches in commit order and stores their notifications and read positions together, with
    /// the recorded position <paramref name="through"/>: under load one round trip serves many batches. A batch that
    /// fails to evaluate is logged and skipped. <paramref name="recovering"/>: some of the notifications may be stored already.
    /// </summary>
    private async Task EvaluateAndStoreAsync(List<(RoomRecord Room, IReadOnlyList<PersistedEvent> Events, RoomHead Head)> items, long through, bool recovering, CancellationToken ct)
    {
        var rows = new List<NotificationRow>();
        var reads = new Dictionary<(string UserId, string RoomId, string ThreadId), long>();
        foreach (var (room, events, head) in items)
        {
            try
            {
                var (batchRows, batchReads) = await EvaluateAsync(room, events, head, ct);
                rows.AddRange(batchRows);
                foreach (var read in batchReads)
                {
                    var key = (read.UserId, read.RoomId, read.ThreadId);
                    reads[key] = Math.Max(read.StreamOrdering, reads.GetValueOrDefault(key));
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                LogEvaluationFailed(e, room.RoomId);
            }
        }

        var moved = through > Recorded ? through : (long?)null;
        if (rows.Count == 0 && reads.Count == 0 && moved is null)
        {
            return;
        }

        await _store.AddAsync(rows, reads.Select(r => new ReadPosition(r.Key.UserId, r.Key.RoomId, r.Key.ThreadId, r.Value)).ToList(), moved, recovering, ct);
        Recorded = Math.Max(Recorded, through);
        if (rows.Count > 0)
        {
            _delivery.Poke(rows.Select(r => r.UserId).Distinct(StringComparer.Ordinal).ToList());
        }
    }

    private void Release(IReadOnlyList<PersistedEvent> events) => Release(events.Select(e => e.StreamOrdering!.Value));

    /// <summary>The notifications of one batch's events, and the read positions their local senders move to.</summary>
    internal async Task<(List<NotificationRow> Rows, List<ReadPosition> Reads)> EvaluateAsync(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head, CancellationToken ct)
    {
        var state = await GetRoomStateAsync(room, head, ct);
        var batch = events.ToDictionary(e => e.Event.EventId, e => e.Event, StringComparer.Ordinal);
        var recipients = new HashSet<string>(state.LocalJoined.Keys, StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (e.Event.Type == EventTypes.Member && e.Event.Membership == Membership.Invite && e.Event.StateKey is { } invited && IsLocal(invited))
            {
                recipients.Add(invited);
            }
        }

        var rules = await _rules.GetCompiledAsync(recipients, ct);
        var rows = new List<NotificationRow>();
        var reads = new List<ReadPosition>();
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var persisted in events)
        {
            var pdu = persisted.Event;
            var ordering = persisted.StreamOrdering!.Value;
            var thread = await ThreadOfAsync(pdu, batch, ct);
            if (IsLocal(pdu.Sender))
            {
                reads.Add(new ReadPosition(pdu.Sender, room.RoomId, thread, ordering));
            }

            var context = new PushEventContext(
                pdu.Json, room.RoomId, pdu.Sender, state.JoinedCount, state.Levels.GetUserLevel(pdu.Sender),
                key => state.Levels.GetNotificationLevel(key) ?? PowerLevels.DefaultNotificationRoom);
            foreach (var user in recipients)
            {
                if (user == pdu.Sender)
                {
                    continue;
                }

                var isInviteForUser = pdu.Type == EventTypes.Member && pdu.StateKey == user && pdu.Membership == Membership.Invite;
                if (!state.LocalJoined.ContainsKey(user) && !isInviteForUser)
                {
                    continue;
                }

                var userRules = rules[user];
                if (pdu.Type == EventTypes.Member && pdu.StateKey != user && userRules.OthersMembershipNeverNotifies)
                {
                    continue; // known without evaluating: no notification (CompiledPushRules.OthersMembershipNeverNotifies)
                }

                var match = userRules.Evaluate(context, state.LocalJoined.GetValueOrDefault(user));
                if (match is { Actions.Notify: true })
                {
                    rows.Add(new NotificationRow(user, room.RoomId, pdu.EventId, ordering, thread, match.Actions.ActionsJson, match.Actions.Highlight, now));
                }
            }
        }

        return (rows, reads);
    }

    private bool IsLocal(string userId) => MatrixId.ServerOf(userId) == _serverName;

    /// <summary>The event's thread: the root of the first <c>m.thread</c> relation met within <see cref="MaxThreadHops"/> relations, else "main".</summary>
    private async Task<string> ThreadOfAsync(Pdu pdu, Dictionary<string, Pdu> batch, CancellationToken ct)
    {
        var current = pdu;
        for (var hop = 0; hop <= MaxThreadHops; hop++)
        {
            if (!TryGetRelation(current.Content, out var relType, out var target))
            {
                return MainThread;
            }

            if (relType == "m.thread")
            {
                return target;
            }

            if (hop == MaxThreadHops)
            {
                break;
            }

            if (!batch.TryGetValue(target, out var parent))
            {
                parent = (await _lookup.GetEventsAsync([target], ct)).GetValueOrDefault(target);
            }

            if (parent is null || parent.RoomId != pdu.RoomId)
            {
                return MainThread;
            }

            current = parent;
        }

        return MainThread;
    }

    private static bool TryGetRelation(JsonElement content, out string relType, out string eventId)
    {
        relType = eventId = string.Empty;
        if (content.ValueKind == JsonValueKind.Object
            && content.TryGetProperty("m.relates_to", out var rel) && rel.ValueKind == JsonValueKind.Object
            && rel.TryGetProperty("rel_type", out var t) && t.ValueKind == JsonValueKind.String
            && rel.TryGetProperty("event_id", out var id) && id.ValueKind == JsonValueKind.String && MatrixId.IsValidEventId(id.GetString()))
        {
            relType = t.GetString()!;
            eventId = id.GetString()!;
            return true;
        }

        return false;
    }

    /// <summary>
    /// The room's push facts for the state snapshot a batch was written on. When the state changed, only the member
    /// events that differ from the cached snapshot's are read (through the event cache), so a join costs one event, not
    /// a query returning every member. The facts come from the batch's own state, not the membership table, which may
    /// already be ahead of the batch being evaluated.
    /// </summary>
    private async Task<RoomPushState> GetRoomStateAsync(RoomRecord room, RoomHead head, CancellationToken ct)
    {
        _rooms.TryGetValue(room.RoomId, out var cached);
        if (cached is not null && cached.SnapshotId == head.SnapshotId)
        {
            return cached;
        }

        var plId = head.State.GetValueOrDefault(new StateKey(EventTypes.PowerLevels, string.Empty));
        var createId = head.State.GetValueOrDefault(new StateKey(EventTypes.Create, string.Empty));
        var memberEvents = new Dictionary<string, string>(StringComparer.Ordinal);
        var changed = new List<string>();
        foreach (var (key, eventId) in head.State)
        {
            if (key.Type == EventTypes.Member)
            {
                memberEvents[key.Key] = eventId;
                if (cached is null || !cached.MemberEvents.TryGetValue(key.Key, out var before) || before != eventId)
                {
                    changed.Add(eventId);
                }
            }
        }

        // Members are never taken out of a room's state, but a resolved state may differ in any way: start afresh then.
        if (cached is not null && cached.MemberEvents.Keys.Any(user => !memberEvents.ContainsKey(user)))
        {
            cached = null;
            changed = memberEvents.Values.ToList();
        }

        var levelsChanged = cached is null || cached.PowerLevelsId != plId || cached.CreateId != createId;
        var wanted = levelsChanged ? changed.Concat(new[] { plId, createId }.OfType<string>()).ToList() : changed;
        var events = await _lookup.GetEventsAsync(wanted, ct);

        var joined = cached is null ? new HashSet<string>(StringComparer.Ordinal) : new HashSet<string>(cached.Joined, StringComparer.Ordinal);
        var names = cached is null ? new Dictionary<string, string?>(StringComparer.Ordinal) : new Dictionary<string, string?>(cached.LocalJoined, StringComparer.Ordinal);
        foreach (var eventId in changed)
        {
            if (!events.TryGetValue(eventId, out var member) || member.StateKey is not { } user)
            {
                continue;
            }

            if (member.Membership == Membership.Join)
            {
                joined.Add(user);
                if (IsLocal(user))
                {
                    names[user] = member.Content.ValueKind == JsonValueKind.Object
                        && member.Content.TryGetProperty("displayname", out var dn) && dn.ValueKind == JsonValueKind.String ? dn.GetString() : null;
                }
            }
            else
            {
                joined.Remove(user);
                names.Remove(user);
            }
        }

        var levels = levelsChanged
            ? PowerLevels.From(plId is null ? null : events.GetValueOrDefault(plId), createId is null ? null : events.GetValueOrDefault(createId), room.Version)
            : cached!.Levels;
        var state = new RoomPushState(head.SnapshotId, memberEvents, joined, names, plId, createId, levels);
        if (_rooms.Count > RoomCacheLimit)
        {
            _rooms.Clear();
        }

        _rooms[room.RoomId] = state;
        return state;
    }

    private sealed record RoomPushState(
        long SnapshotId,
        IReadOnlyDictionary<string, string> MemberEvents,
        IReadOnlySet<string> Joined,
        IReadOnlyDictionary<string, string?> LocalJoined,
        string? PowerLevelsId,
        string? CreateId,
        PowerLevels Levels)
    {
        public long JoinedCount => Joined.Count;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Push rule evaluation failed for a batch of room {RoomId}")]
    private partial void LogEvaluationFailed(Exception e, string roomId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Notification recovery: {Events} events evaluated, at stream position {Position} of {Target}")]
    private partial void LogRecovering(int events, long position, long target);

    [LoggerMessage(Level = LogLevel.Information, Message = "Notification recovery done: {Events} events a stop left unevaluated were evaluated again")]
    private partial void LogRecovered(int events);
}

/// <summary>Wakes the pushers of users who just got notifications (implemented by the delivery worker).</summary>
public interface IPushDeliveryTrigger
{
    void Poke(IReadOnlyCollection<string> userIds);

    /// <summary>The user's unread counts changed without a new notification (a read receipt): send badge updates.</summary>
    void PokeBadge(string userId);
}
