using Homeserver.Core;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.StateRes;

namespace Homeserver.Rooms.Writing;

/// <summary>What became of an event received from another server.</summary>
public sealed record RemoteOutcome(string EventId, string? RejectionReason, bool SoftFailed, long? StreamOrdering, bool AlreadyKnown = false)
{
    public bool Accepted => RejectionReason is null && !SoftFailed;
}

/// <summary>
/// Events from other servers, on the same per-room queue as local writes (server-server API, "Checks performed on
/// receipt of a PDU"): step 4 (against its auth events), step 5 (against the state before it, resolved from its
/// prev events' states) and step 6 (soft failure against the current state). The federation layer has already
/// checked format, signatures and hashes, and fetched whatever was missing.
/// </summary>
public sealed partial class RoomWriter
{
    /// <summary>
    /// Stores events without their state (auth chains, a join's room state), each checked against its own auth
    /// events. Returns each event's rejection reason (null when accepted).
    /// </summary>
    public Task<IReadOnlyDictionary<string, string?>> PersistOutliersAsync(RoomRecord room, IReadOnlyCollection<Pdu> pdus, CancellationToken ct) =>
        RunOnQueueAsync<IReadOnlyDictionary<string, string?>>(room, async head =>
        {
            var known = await store.GetEventMetaAsync(pdus.Select(p => p.EventId).ToList(), ct);
            var byId = pdus.Where(p => !known.ContainsKey(p.EventId)).GroupBy(p => p.EventId).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
            var outcome = known.ToDictionary(kv => kv.Key, kv => kv.Value.RejectionReason, StringComparer.Ordinal);
            if (byId.Count == 0)
            {
                return (head, outcome);
            }

            var ordered = AuthOrder(byId);
            var external = ordered.SelectMany(p => p.AuthEventIds).Where(id => !byId.ContainsKey(id)).Distinct().ToList();
            var events = new Dictionary<string, Pdu>((await lookup.GetEventsAsync(external, ct)).ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal);
            var rejected = (await store.GetEventMetaAsync(external, ct)).Where(kv => kv.Value.Rejected).Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
            var toPersist = new List<EventToPersist>();
            foreach (var pdu in ordered)
            {
                string? reason;
                var authEvents = pdu.AuthEventIds.Select(id => events.GetValueOrDefault(id)).ToList();
                if (authEvents.Any(e => e is null))
                {
                    reason = "missing auth events";
                }
                else
                {
                    var create = authEvents.FirstOrDefault(e => e!.Type == EventTypes.Create) ?? FindCreate(events.Values, pdu);
                    var check = EventAuth.CheckAgainstAuthEvents(pdu, authEvents!, create, rejected.Contains);
                    reason = check.Allowed ? null : check.ToString();
                }

                if (reason is not null)
                {
                    rejected.Add(pdu.EventId);
                }

                events[pdu.EventId] = pdu;
                outcome[pdu.EventId] = reason;
                toPersist.Add(new EventToPersist(pdu, new StateBefore.None(), RejectionReason: reason));
            }

            var result = await store.PersistAsync(head, new PersistBatch(toPersist, [], [], false), 0, ct);
            foreach (var e in toPersist)
            {
                eventCache.Add(e.Event);
            }

            return (result.Head, outcome);
        }, ct);

    /// <summary>
    /// Checks and stores a timeline event from another server. Its prev events must be stored with their state,
    /// except those whose state after them the caller supplies in <paramref name="missingPrevStates"/> (fetched from
    /// a peer when the prev events themselves could not be had).
    /// </summary>
    public Task<RemoteOutcome> IngestAsync(RoomRecord room, Pdu pdu, IReadOnlyList<IReadOnlyDictionary<StateKey, string>>? missingPrevStates, CancellationToken ct) =>
        RunOnQueueAsync(room, async head =>
        {
            var version = room.Version;
            var meta = await store.GetEventMetaAsync([pdu.EventId], ct);
            if (meta.TryGetValue(pdu.EventId, out var existing) && !existing.Outlier)
            {
                return (head, new RemoteOutcome(pdu.EventId, existing.RejectionReason, existing.SoftFailed, null, AlreadyKnown: true));
            }

            var (stateBefore, parentSnapshot, parentState, authStateBefore, reason) = await CheckPulledAsync(room, pdu, missingPrevStates, isRoomCreate: false, ct);
            if (reason is not null)
            {
                return await PersistRejectedAsync(head, room, pdu, reason, ct);
            }

            // Step 6: soft failure against the current state.
            var softFailed = !EventAuth.Check(pdu, await AuthStateAsync(pdu, head.State, ct)).Allowed;
            if (!softFailed && await WithheldRedactionReasonAsync(pdu, authStateBefore, ct) is { } withheld)
            {
                // A redaction that may not redact its target stays in the DAG but is never applied nor shown, as Synapse
                // withholds it from clients; soft failure is exactly that treatment.
                LogRedactionWithheld(pdu.EventId, room.RoomId, withheld);
                softFailed = true;
            }

            var delta = Diff(parentState, stateBefore);
            var item = new EventToPersist(pdu, new StateBefore.Derived(parentSnapshot, delta), SoftFailed: softFailed);
            PersistBatch batch;
            if (softFailed)
            {
                batch = new PersistBatch([item], [], [], false);
            }
            else
            {
                var superseded = await SupersededExtremitiesAsync(pdu, ct);
                var remaining = head.ForwardExtremities.Where(e => !superseded.Contains(e.EventId)).ToList();
                var removed = head.ForwardExtremities.Where(e => superseded.Contains(e.EventId)).Select(e => e.EventId).ToList();
                if (remaining.Count == 0)
                {
                    batch = new PersistBatch([item], removed, [pdu.EventId], CurrentStateIsStateAfterLastEvent: true);
                }
                else
                {
                    // Other branches stay open: the room's state is the resolution of every forward extremity's state.
                    var afterEvent = new Dictionary<StateKey, string>(stateBefore);
                    if (pdu.StateKey is not null)
                    {
                        afterEvent[new StateKey(pdu.Type, pdu.StateKey)] = pdu.EventId;
                    }

                    var sets = new List<IReadOnlyDictionary<StateKey, string>> { afterEvent };
                    var extremityMeta = await store.GetEventMetaAsync(remaining.Select(e => e.EventId).ToList(), ct);
                    foreach (var m in extremityMeta.Values)
                    {
                        if (m.StateAfter is { } s)
                        {
                            sets.Add(await store.GetSnapshotStateAsync(s, ct));
                        }
                    }

                    var resolved = await StateResolver.ResolveAsync(version, sets, new StoreResolutionSource(lookup, store, pdu), ct);
                    batch = new PersistBatch([item], removed, [pdu.EventId], false)
                    {
                        NewCurrentState = new StateBefore.Derived(head.SnapshotId, Diff(head.State, resolved)),
                    };
                }
            }

            using var reservation = streams.Reserve();
            var result = await store.PersistAsync(head, batch, reservation.First, ct);
            Announce(room, new PersistedEvent(pdu, result.StreamOrderings[0], softFailed), result.Head, reservation);
            return (result.Head, new RemoteOutcome(pdu.EventId, null, softFailed, result.StreamOrderings[0]));
        }, ct);

    /// <summary>
    /// Stores an event of the room's history fetched from another server (outbound backfill, as Synapse's
    /// <c>_process_pulled_event</c> with <c>backfilled</c>): checked against its auth events and the state before it
    /// (steps 4 and 5; a historical event is not soft-failed against today's state), placed before the live timeline
    /// with a negative stream position, and neither moving the forward extremities or the current state nor announced
    /// to sync, push or federation. Its prev events must be stored with their state, except those whose state after
    /// them the caller supplies in <paramref name="missingPrevStates"/>. The room's create event has none.
    /// </summary>
    public Task<RemoteOutcome> BackfillAsync(RoomRecord room, Pdu pdu, IReadOnlyList<IReadOnlyDictionary<StateKey, string>>? missingPrevStates, CancellationToken ct) =>
        RunOnQueueAsync(room, async head =>
        {
            var meta = await store.GetEventMetaAsync([pdu.EventId], ct);
            if (meta.TryGetValue(pdu.EventId, out var existing) && existing.Placed)
            {
                return (head, new RemoteOutcome(pdu.EventId, existing.RejectionReason, existing.SoftFailed, null, AlreadyKnown: true));
            }

            var isRoomCreate = pdu.Type == EventTypes.Create && pdu.StateKey == string.Empty && pdu.PrevEventIds.Count == 0
                && head.State.GetValueOrDefault(new StateKey(EventTypes.Create, string.Empty)) == pdu.EventId;
            var check = await CheckPulledAsync(room, pdu, missingPrevStates, isRoomCreate, ct);
            if (check.Reason is { } reason)
            {
                return await PersistRejectedAsync(head, room, pdu, reason, ct);
            }

            // A redaction that may not redact its target is kept out of sight, as for pushed events (see IngestAsync).
            var withheld = await WithheldRedactionReasonAsync(pdu, check.AuthStateBefore, ct);
            var item = new EventToPersist(pdu, new StateBefore.Derived(check.ParentSnapshot, Diff(check.ParentState, check.StateBefore)), SoftFailed: withheld is not null);
            var ordering = await store.TakeBackfillOrderingAsync(ct);
            var result = await store.PersistAsync(head, new PersistBatch([item], [], [], false) { Backfilled = true }, ordering, ct);
            eventCache.Add(pdu);
            return (result.Head, new RemoteOutcome(pdu.EventId, null, withheld is not null, result.StreamOrderings[0]));
        }, ct);

    /// <summary>Stores a remote event as rejected (without state): it stays known, and stands for its prev events.</summary>
    private async Task<(RoomHead Head, RemoteOutcome Outcome)> PersistRejectedAsync(RoomHead head, RoomRecord room, Pdu pdu, string reason, CancellationToken ct)
    {
        var rejected = await store.PersistAsync(head, new PersistBatch([new EventToPersist(pdu, new StateBefore.None(), RejectionReason: reason)], [], [], false), 0, ct);
        LogRemoteRejected(pdu.EventId, room.RoomId, reason);
        return (rejected.Head, new RemoteOutcome(pdu.EventId, reason, false, null));
    }

    /// <summary>What checking a pulled or pushed event against its auth events and the state before it found.</summary>
    private sealed record PulledCheck(
        IReadOnlyDictionary<StateKey, string> StateBefore,
        long ParentSnapshot,
        IReadOnlyDictionary<StateKey, string> ParentState,
        IReadOnlyDictionary<StateKey, Pdu> AuthStateBefore,
        string? Reason);

    /// <summary>
    /// The state before a remote event (its prev events' states, resolved, with <paramref name="missingPrevStates"/>
    /// standing in for prev events we lack) and steps 4 and 5 of the checks on receipt. An event with no state to build
    /// on is refused, unless it is the room's own create event (<paramref name="isRoomCreate"/>), whose state before is
    /// empty.
    /// </summary>
    private async Task<PulledCheck> CheckPulledAsync(
        RoomRecord room, Pdu pdu, IReadOnlyList<IReadOnlyDictionary<StateKey, string>>? missingPrevStates, bool isRoomCreate, CancellationToken ct)
    {
        var prevStates = new List<IReadOnlyDictionary<StateKey, string>>();
        long parentSnapshot = 0;
        foreach (var snapshot in (await StatePrevsAsync(pdu, ct)).WithState)
        {
            if (prevStates.Count == 0)
            {
                parentSnapshot = snapshot;
            }

            prevStates.Add(await store.GetSnapshotStateAsync(snapshot, ct));
        }

        if (missingPrevStates is not null)
        {
            prevStates.AddRange(missingPrevStates);
        }

        var empty = new Dictionary<StateKey, string>();
        if (prevStates.Count == 0 && !isRoomCreate)
        {
            // E.g. a second create event, or an event whose prev events are all rejected: nothing to build on.
            return new PulledCheck(empty, 0, empty, new Dictionary<StateKey, Pdu>(), "no state is known for its prev events");
        }

        var stateBefore = prevStates.Count switch
        {
            0 => empty,
            1 => prevStates[0],
            _ => await StateResolver.ResolveAsync(room.Version, prevStates, new StoreResolutionSource(lookup, store), ct),
        };
        var parentState = parentSnapshot == 0 ? empty : prevStates[0];

        // Step 4: against its own auth events.
        var authEvents = await lookup.GetEventsAsync(pdu.AuthEventIds, ct);
        var authMeta = await store.GetEventMetaAsync(pdu.AuthEventIds, ct);
        string? reason = null;
        if (authEvents.Count != pdu.AuthEventIds.Distinct().Count())
        {
            reason = "missing auth events";
        }
        else
        {
            var create = authEvents.Values.FirstOrDefault(e => e.Type == EventTypes.Create) ?? (isRoomCreate ? pdu : await LookupCreateAsync(stateBefore, ct));
            var step4 = EventAuth.CheckAgainstAuthEvents(pdu, authEvents.Values, create, id => authMeta.TryGetValue(id, out var m) && m.Rejected);
            reason = step4.Allowed ? null : step4.ToString();
        }

        // Step 5: against the state before it.
        var authStateBefore = await AuthStateAsync(pdu, stateBefore, ct);
        if (reason is null)
        {
            var step5 = EventAuth.Check(pdu, authStateBefore);
            reason = step5.Allowed ? null : step5.ToString();
        }

        return new PulledCheck(stateBefore, parentSnapshot, parentState, authStateBefore, reason);
    }

    /// <summary>
    /// Starts (or restarts) our copy of a room from the answer to a join: the room's state and auth chain are stored as
    /// outliers, then the join event is stored on top of that state and becomes the room's only forward extremity.
    /// </summary>
    public async Task<RemoteOutcome> CompleteRemoteJoinAsync(
        RoomRecord room, Pdu joinEvent, IReadOnlyCollection<Pdu> state, IReadOnlyCollection<Pdu> authChain, CancellationToken ct)
    {
        var outcomes = await PersistOutliersAsync(room, [.. authChain, .. state], ct);
        var stateMap = new Dictionary<StateKey, string>();
        foreach (var e in state)
        {
            if (e.StateKey is not null && outcomes.GetValueOrDefault(e.EventId) is null)
            {
                stateMap[new StateKey(e.Type, e.StateKey)] = e.EventId;
            }
        }

        return await RunOnQueueAsync(room, async head =>
        {
            var check = EventAuth.Check(joinEvent, await AuthStateAsync(joinEvent, stateMap, ct));
            if (!check.Allowed)
            {
                throw MatrixException.Forbidden("The join event is not allowed by the room's state: " + check.Reason);
            }

            var delta = stateMap.ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
            var batch = new PersistBatch(
                [new EventToPersist(joinEvent, new StateBefore.Derived(0, delta))],
                head.ForwardExtremities.Select(e => e.EventId).ToList(),
                [joinEvent.EventId],
                CurrentStateIsStateAfterLastEvent: true);
            using var reservation = streams.Reserve();
            var result = await store.PersistAsync(head, batch, reservation.First, ct);
            Announce(room, new PersistedEvent(joinEvent, result.StreamOrderings[0], false), result.Head, reservation);
            return (result.Head, new RemoteOutcome(joinEvent.EventId, null, false, result.StreamOrderings[0]));
        }, ct);
    }

    /// <summary>
    /// Stores a membership event for a room we are not in (an invite or knock from another server, or our answer to
    /// one), so that the user sees it in sync, without touching the room's state.
    /// </summary>
    public Task<long> PersistOutOfBandMembershipAsync(RoomRecord room, Pdu member, CancellationToken ct) =>
        RunOnQueueAsync(room, async head =>
        {
            using var reservation = streams.Reserve();
            await store.PersistOutOfBandMembershipAsync(room, member, reservation.First, ct);
            Announce(room, new PersistedEvent(member, reservation.First, false), head, reservation);
            return (head, reservation.First);
        }, ct);

    /// <summary>
    /// The prev events of <paramref name="pdu"/> that we lack with their state (never stored, or only as outliers):
    /// what must be fetched before the state before it is known. A rejected prev event counts through its own prev
    /// events (see <see cref="StatePrevsAsync"/>).
    /// </summary>
    public async Task<IReadOnlyList<string>> MissingPrevEventsAsync(Pdu pdu, CancellationToken ct) => (await StatePrevsAsync(pdu, ct)).Missing;

    /// <summary>
    /// The events whose states after them make up the state before <paramref name="pdu"/>: its prev events, except that
    /// a rejected prev event stands for its own prev events, recursively. A rejected event changes no state, so the state
    /// after it is the state before it (as Synapse keeps it); we store rejected events without state, so it is rebuilt
    /// from their prev events. Returns the snapshots after those we hold with state, and the IDs of those we do not.
    /// </summary>
    private async Task<(List<long> WithState, List<string> Missing)> StatePrevsAsync(Pdu pdu, CancellationToken ct)
    {
        const int MaxRejectedDepth = 100;
        var withState = new List<long>();
        var missing = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var frontier = pdu.PrevEventIds.Where(seen.Add).ToList();
        for (var round = 0; frontier.Count > 0 && round < MaxRejectedDepth; round++)
        {
            var meta = await store.GetEventMetaAsync(frontier, ct);
            var rejected = new List<string>();
            foreach (var id in frontier)
            {
                if (meta.TryGetValue(id, out var m) && m.Rejected)
                {
                    rejected.Add(id);
                }
                else if (m?.StateAfter is { } snapshot)
                {
                    withState.Add(snapshot);
                }
                else
                {
                    missing.Add(id);
                }
            }

            frontier = (await lookup.GetEventsAsync(rejected, ct)).Values.SelectMany(e => e.PrevEventIds).Where(seen.Add).ToList();
        }

        return (withState, missing);
    }

    /// <summary>
    /// Why a redaction that passed the auth rules must still not be applied (null when it may): its target is in another
    /// room or is the room's create event, or (room versions 3+, "Handling redactions") its sender has neither the
    /// redact level nor the target sender's server. A target we do not have is left to the redaction's storage, which
    /// marks only events of the same room.
    /// </summary>
    private async Task<string?> WithheldRedactionReasonAsync(Pdu pdu, IReadOnlyDictionary<StateKey, Pdu> authState, CancellationToken ct)
    {
        if (pdu.Type != EventTypes.Redaction || pdu.Redacts is not { } targetId
            || (await lookup.GetEventsAsync([targetId], ct)).GetValueOrDefault(targetId) is not { } target)
        {
            return null;
        }

        if (target.RoomId != pdu.RoomId)
        {
            return "its target is in another room";
        }

        if (target.Type == EventTypes.Create)
        {
            return "its target is the create event";
        }

        return EventAuth.ShouldApplyRedaction(pdu, target, PowerLevels.FromState(authState, pdu.RoomVersion))
            ? null
            : "its sender may not redact other servers' events";
    }

    /// <summary>
    /// The extremities an accepted event replaces: its prev events, and, through prev events that were soft-failed or
    /// rejected, their ancestors too (as Synapse): an extremity followed by soft-failed events and then by this event is
    /// behind it, and left in place it would dangle beside it for ever (an F ← SF ← SF ← N chain has N alone at its tip).
    /// </summary>
    private async Task<HashSet<string>> SupersededExtremitiesAsync(Pdu pdu, CancellationToken ct)
    {
        var result = new HashSet<string>(pdu.PrevEventIds, StringComparer.Ordinal);
        var frontier = pdu.PrevEventIds.ToList();
        while (frontier.Count > 0)
        {
            var failed = (await store.GetEventMetaAsync(frontier, ct)).Values.Where(m => m.SoftFailed || m.Rejected).Select(m => m.EventId).ToList();
            frontier = [];
            foreach (var e in (await lookup.GetEventsAsync(failed, ct)).Values)
            {
                frontier.AddRange(e.PrevEventIds.Where(result.Add));
            }
        }

        return result;
    }

    /// <summary>The auth state an event is checked against: the keys its auth rules look at, plus the create event.</summary>
    private async Task<Dictionary<StateKey, Pdu>> AuthStateAsync(Pdu pdu, IReadOnlyDictionary<StateKey, string> state, CancellationToken ct)
    {
        var keys = AuthEventsSelection.GetRequiredKeys(pdu).Append(new StateKey(EventTypes.Create, string.Empty)).Distinct().ToList();
        var ids = keys.Where(state.ContainsKey).Select(k => state[k]).ToList();
        var events = await lookup.GetEventsAsync(ids, ct);
        var result = new Dictionary<StateKey, Pdu>();
        foreach (var k in keys)
        {
            if (state.TryGetValue(k, out var id) && events.TryGetValue(id, out var e))
            {
                result[k] = e;
            }
        }

        return result;
    }

    private async Task<Pdu?> LookupCreateAsync(IReadOnlyDictionary<StateKey, string> state, CancellationToken ct)
    {
        if (!state.TryGetValue(new StateKey(EventTypes.Create, string.Empty), out var id))
        {
            return null;
        }

        return (await lookup.GetEventsAsync([id], ct)).GetValueOrDefault(id);
    }

    private static Pdu? FindCreate(IEnumerable<Pdu> events, Pdu pdu) =>
        events.FirstOrDefault(e => e.Type == EventTypes.Create && e.StateKey == string.Empty && e.RoomId == pdu.RoomId);

    /// <summary>Orders events so that each comes after the events of the set that it lists in auth_events.</summary>
    private static List<Pdu> AuthOrder(Dictionary<string, Pdu> events)
    {
        var ordered = new List<Pdu>(events.Count);
        var visited = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<(Pdu Event, bool Expanded)>();
        foreach (var start in events.Values.OrderBy(e => e.Depth))
        {
            stack.Push((start, false));
            while (stack.Count > 0)
            {
                var (e, expanded) = stack.Pop();
                if (expanded)
                {
                    ordered.Add(e);
                    continue;
                }

                if (!visited.Add(e.EventId))
                {
                    continue;
                }

                stack.Push((e, true));
                foreach (var authId in e.AuthEventIds)
                {
                    if (events.TryGetValue(authId, out var a) && !visited.Contains(authId))
                    {
                        stack.Push((a, false));
                    }
                }
            }
        }

        return ordered;
    }

    private static Dictionary<StateKey, string?> Diff(IReadOnlyDictionary<StateKey, string> from, IReadOnlyDictionary<StateKey, string> to)
    {
        var delta = new Dictionary<StateKey, string?>();
        foreach (var (k, v) in to)
        {
            if (!from.TryGetValue(k, out var old) || old != v)
            {
                delta[k] = v;
            }
        }

        foreach (var k in from.Keys)
        {
            if (!to.ContainsKey(k))
            {
                delta[k] = null;
            }
        }

        return delta;
    }

    /// <summary>
    /// Announces one event persisted outside the local batches (its search row written with it): tells the commit
    /// listeners, releases its stream position, caches it, publishes <paramref name="head"/> as the room's head, then
    /// tells the listeners. Publishing here matters because this runs inside an operation on the room's queue, whose
    /// result would otherwise become the head only after the operation returns: a listener that hands the room to
    /// another task (the guest-access enforcer, reading the room's current state) could read the head from before the
    /// event, as the local path's comment in FinishBatchAsync explains for clients.
    /// </summary>
    private void Announce(RoomRecord room, PersistedEvent persisted, RoomHead head, Homeserver.Core.Streams.StreamPositions.Reservation reservation)
    {
        PersistedEvent[] events = [persisted];
        TellCommitted(room, events, head, searchDeferred: false);
        reservation.Dispose();
        eventCache.Add(persisted.Event);
        Queue(room).Publish(head);
        foreach (var listener in _listeners)
        {
            try
            {
                listener.OnPersisted(room, events, head);
            }
            catch (Exception e)
            {
                LogListenerFailed(e, listener.GetType().Name, room.RoomId);
            }
        }
    }

    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Information, Message = "Withheld redaction {EventId} in {RoomId}: {Reason}")]
    private partial void LogRedactionWithheld(string eventId, string roomId, string reason);

    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Information, Message = "Rejected event {EventId} in {RoomId}: {Reason}")]
    private partial void LogRemoteRejected(string eventId, string roomId, string reason);
}

/// <summary>State resolution reading events through the cache and the store, with rejection flags from the store.</summary>
internal sealed class StoreResolutionSource(EventLookup lookup, IRoomStore store, Pdu? extra = null) : IStateResolutionSource
{
    public async ValueTask<IReadOnlyDictionary<string, Pdu>> GetEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken)
    {
        var found = await lookup.GetEventsAsync(eventIds, cancellationToken);
        if (extra is not null && eventIds.Contains(extra.EventId))
        {
            var copy = new Dictionary<string, Pdu>(found, StringComparer.Ordinal) { [extra.EventId] = extra };
            return copy;
        }

        return found;
    }

    public async ValueTask<IReadOnlySet<string>> GetRejectedAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken)
    {
        var meta = await store.GetEventMetaAsync(eventIds, cancellationToken);
        return meta.Values.Where(m => m.Rejected).Select(m => m.EventId).ToHashSet(StringComparer.Ordinal);
    }
}
