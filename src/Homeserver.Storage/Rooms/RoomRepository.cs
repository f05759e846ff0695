using System.Text.Json;
using Dapper;
using Homeserver.Core;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Npgsql;

namespace Homeserver.Storage.Rooms;

/// <summary>
/// The event DAG: tables <c>rooms</c>, <c>events</c> (auth edges live in each event's JSON), <c>event_prev_events</c>,
/// <c>current_state</c>, <c>room_current_snapshot</c> (with the forward extremities) and <c>room_memberships</c> (a
/// local send's client transaction is on its event row). A batch of events is persisted with its edges, state and stream positions in
/// one transaction.
/// </summary>
internal sealed class RoomRepository(
    NpgsqlDataSource db,
    StateSnapshotStore snapshots,
    StateKeyInterner stateKeys,
    EventNidCache eventNids,
    EventNidAllocator nidAllocator,
    StateTranslator translator,
    RoomNewsTracker newsTracker) : IRoomStore
{
    private const string SelectRoom = "SELECT room_nid AS RoomNid, room_version AS Version FROM rooms WHERE room_id = @RoomId";

    private const string InsertRoom = """
        INSERT INTO rooms (room_id, room_version, created_ts) VALUES (@RoomId, @Version, @CreatedTs)
        ON CONFLICT (room_id) DO NOTHING RETURNING room_nid
        """;

    // The room's current snapshot row with its forward extremities (0017): one row per extremity, or one with a null
    // event for a room without any; none for a room without a row.
    private const string SelectHead = """
        SELECT s.snapshot_nid AS SnapshotNid, s.last_stream_ordering AS LastStreamOrdering,
               e.event_id AS EventId, e.depth AS Depth, e.event_nid AS Nid
        FROM room_current_snapshot s
        LEFT JOIN LATERAL unnest(s.forward_extremities) AS f (event_nid) ON true
        LEFT JOIN events e ON e.event_nid = f.event_nid
        WHERE s.room_nid = @RoomNid
        """;

    private const string SelectEvents = """
        SELECT e.event_id AS EventId, e.json AS Json, r.room_version AS Version
        FROM events e JOIN rooms r ON r.room_nid = e.room_nid
        WHERE e.event_id = ANY(@Ids)
        """;

    // One lookup in the transactions' unique index per transaction: a join with the unnest could get a generic plan
    // that hashes a scan of all of events (as the search indexer's insert did, ROOMS.md, thirteenth session).
    private const string SelectTxns = """
        SELECT e.sender AS UserId, e.txn_device_id AS DeviceId, e.txn_id AS TxnId, e.event_id AS EventId
        FROM unnest(@Users, @Devices, @Txns) AS x (u, d, n)
        CROSS JOIN LATERAL (
            SELECT sender, txn_device_id, txn_id, event_id FROM events
            WHERE sender = x.u AND txn_device_id = x.d AND txn_id = x.n AND txn_id IS NOT NULL
            LIMIT 1) AS e
        """;

    // The unique index of a local send's client transaction on its event row (0015_transactions_on_events.sql).
    private const string TxnUniqueIndex = "events_txn";

    private const string InsertOutOfBand = """
        INSERT INTO events (event_id, room_nid, event_type, state_key, sender, depth, origin_server_ts, stream_ordering, topological_ordering, outlier, json)
        VALUES (@EventId, @RoomNid, @Type, @StateKey, @Sender, @Depth, @OriginServerTs, @StreamOrdering, @Depth, true, @Json)
        ON CONFLICT (event_id) DO NOTHING RETURNING event_nid
        """;

    private const string SelectMembershipEvent = """
        SELECT e.event_id FROM room_memberships m JOIN events e ON e.event_nid = m.event_nid WHERE m.room_nid = @RoomNid AND m.user_id = @UserId
        """;

    private const string SelectMeta = """
        SELECT event_id AS EventId, room_nid AS RoomNid, outlier AS Outlier, rejection_reason AS RejectionReason, soft_failed AS SoftFailed,
               state_before AS StateBefore, state_after AS StateAfter, depth AS Depth
        FROM events WHERE event_id = ANY(@Ids)
        """;

    private const string DeOutlier = """
        UPDATE events SET stream_ordering = @StreamOrdering, state_before = @StateBefore, state_after = @StateAfter, outlier = false,
                          rejection_reason = @RejectionReason, soft_failed = @SoftFailed
        WHERE event_nid = @EventNid
        """;

    private const string RejectOutlier = "UPDATE events SET rejection_reason = @RejectionReason WHERE event_nid = @EventNid AND rejection_reason IS NULL";

    private const string UpsertCurrentState = """
        INSERT INTO current_state (room_nid, state_key_nid, event_nid) SELECT @RoomNid, k, e FROM unnest(@Keys, @Events) AS t(k, e)
        ON CONFLICT (room_nid, state_key_nid) DO UPDATE SET event_nid = EXCLUDED.event_nid
        """;

    private const string DeleteCurrentState = "DELETE FROM current_state WHERE room_nid = @RoomNid AND state_key_nid = ANY(@Keys)";

    private const string UpsertMembership = """
        INSERT INTO room_memberships (room_nid, user_id, membership, event_nid, stream_ordering) VALUES (@RoomNid, @UserId, @Membership, @EventNid, @StreamOrdering)
        ON CONFLICT (room_nid, user_id) DO UPDATE SET membership = EXCLUDED.membership, event_nid = EXCLUDED.event_nid, stream_ordering = EXCLUDED.stream_ordering,
            forgotten = false
        """;

    // After the batch's rows statement, which moved the extremities of an existing row (PersistWrites): a new room's row
    // is inserted here with the batch's added extremities, as it had none.
    private const string UpsertCurrentSnapshot = """
        INSERT INTO room_current_snapshot (room_nid, snapshot_nid, last_stream_ordering, forward_extremities)
        VALUES (@RoomNid, @SnapshotNid, @LastStreamOrdering, @AddedExtremities)
        ON CONFLICT (room_nid) DO UPDATE SET snapshot_nid = EXCLUDED.snapshot_nid,
            last_stream_ordering = GREATEST(room_current_snapshot.last_stream_ordering, EXCLUDED.last_stream_ordering)
        """;

    private const string TakeBackfillOrdering = "SELECT -nextval('backfill_stream_ordering')";

    private sealed record RoomRow(long RoomNid, string Version);

    private sealed record EventRow(string EventId, string Json, string Version);

    private sealed record HeadRow(long SnapshotNid, long LastStreamOrdering, string? EventId, long? Depth, long? Nid);

    private sealed record TxnRow(string UserId, string DeviceId, string TxnId, string EventId);

    public async Task<RoomRecord?> GetRoomAsync(string roomId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<RoomRow>(new CommandDefinition(SelectRoom, new { RoomId = roomId }, cancellationToken: ct));
        return row is null ? null : new RoomRecord(row.RoomNid, roomId, RoomVersion.Find(row.Version) ?? throw new InvalidOperationException($"room {roomId} has unknown version {row.Version}"));
    }

    public async Task<RoomRecord> CreateRoomAsync(string roomId, RoomVersion version, long createdTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var nid = await conn.ExecuteScalarAsync<long?>(new CommandDefinition(InsertRoom, new { RoomId = roomId, Version = version.Id, CreatedTs = createdTs }, cancellationToken: ct));
        return nid is { } n ? new RoomRecord(n, roomId, version) : throw new MatrixException(MatrixErrorCode.RoomInUse, 400, "Room ID already in use");
    }

    public async Task<RoomHead> LoadHeadAsync(RoomRecord room, CancellationToken ct)
    {
        List<HeadRow> rows;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            rows = (await conn.QueryAsync<HeadRow>(new CommandDefinition(SelectHead, new { room.RoomNid }, cancellationToken: ct))).ToList();
        }

        // The writer removes extremities by number: known from here on, without a lookup.
        var extremities = new List<Extremity>(rows.Count);
        foreach (var row in rows)
        {
            if (row is { EventId: { } eventId, Depth: { } depth, Nid: { } nid })
            {
                eventNids.Remember(nid, eventId);
                extremities.Add(new Extremity(eventId, depth));
            }
        }

        var current = rows.FirstOrDefault();
        var snapshotId = current?.SnapshotNid ?? StateSnapshotStore.Empty;
        var state = await translator.GetStateAsync(snapshotId, ct);
        return new RoomHead(room, extremities, snapshotId, state, current?.LastStreamOrdering ?? 0);
    }

    public async Task<IReadOnlyDictionary<string, Pdu>> GetEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken ct)
    {
        var result = new Dictionary<string, Pdu>(StringComparer.Ordinal);
        if (eventIds.Count == 0)
        {
            return result;
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        foreach (var row in await conn.QueryAsync<EventRow>(new CommandDefinition(SelectEvents, new { Ids = eventIds.ToArray() }, cancellationToken: ct)))
        {
            using var doc = JsonDocument.Parse(row.Json);
            result[row.EventId] = Pdu.Parse(doc.RootElement.Clone(), RoomVersion.Find(row.Version)!, row.EventId);
        }

        return result;
    }

    /// <summary>Of these client transactions, those that created an event, with it.</summary>
    private async Task<Dictionary<TransactionRef, string>> GetStoredTransactionsAsync(IReadOnlyCollection<TransactionRef> txns, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<TxnRow>(new CommandDefinition(SelectTxns, new
        {
            Users = txns.Select(t => t.UserId).ToArray(),
            Devices = txns.Select(t => t.DeviceId).ToArray(),
            Txns = txns.Select(t => t.TxnId).ToArray(),
        }, cancellationToken: ct));
        return rows.ToDictionary(r => new TransactionRef(r.UserId, r.DeviceId, r.TxnId), r => r.EventId);
    }

    public async Task<IReadOnlyDictionary<string, EventMeta>> GetEventMetaAsync(IReadOnlyCollection<string> eventIds, CancellationToken ct)
    {
        if (eventIds.Count == 0)
        {
            return new Dictionary<string, EventMeta>();
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<EventMeta>(new CommandDefinition(SelectMeta, new { Ids = eventIds.ToArray() }, cancellationToken: ct));
        return rows.ToDictionary(r => r.EventId, StringComparer.Ordinal);
    }

    public async Task PersistOutOfBandMembershipAsync(RoomRecord room, Pdu member, long streamOrdering, CancellationToken ct)
    {
        newsTracker.Record(room.RoomNid, streamOrdering);
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var nid = await conn.ExecuteScalarAsync<long?>(new CommandDefinition(InsertOutOfBand, new
        {
            member.EventId,
            room.RoomNid,
            member.Type,
            member.StateKey,
            member.Sender,
            member.Depth,
            member.OriginServerTs,
            StreamOrdering = streamOrdering,
            Json = member.Json.GetRawText(),
        }, tx, cancellationToken: ct));
        nid ??= await conn.ExecuteScalarAsync<long>(new CommandDefinition("SELECT event_nid FROM events WHERE event_id = @EventId", new { member.EventId }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(UpsertMembership, new
        {
            room.RoomNid,
            UserId = member.StateKey,
            Membership = member.Membership ?? "leave",
            EventNid = nid,
            StreamOrdering = streamOrdering,
        }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    public async Task<string?> GetMembershipEventIdAsync(long roomNid, string userId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<string?>(new CommandDefinition(SelectMembershipEvent, new { RoomNid = roomNid, UserId = userId }, cancellationToken: ct));
    }

    public Task<IReadOnlyDictionary<StateKey, string>> GetSnapshotStateAsync(long snapshotId, CancellationToken ct) => translator.GetStateAsync(snapshotId, ct);

    public async Task<PersistResult> PersistAsync(RoomHead head, PersistBatch batch, long firstStreamOrdering, CancellationToken ct)
    {
        try
        {
            return await PersistOnceAsync(head, batch, firstStreamOrdering, ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation && e.ConstraintName == TxnUniqueIndex)
        {
            // A client transaction the writer did not remember (it forgot it, or the server restarted): nothing was written.
            var txns = batch.Events.Where(x => x.Transaction is not null).Select(x => x.Transaction!).Distinct().ToList();
            var stored = await GetStoredTransactionsAsync(txns, ct);
            throw stored.Count > 0 ? new DuplicateTransactionException(stored) : e;
        }
    }

    public async Task<long> TakeBackfillOrderingAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<long>(new CommandDefinition(TakeBackfillOrdering, cancellationToken: ct));
    }

    private async Task<PersistResult> PersistOnceAsync(RoomHead head, PersistBatch batch, long firstStreamOrdering, CancellationToken ct)
    {
        var room = head.Room;
        var events = batch.Events;

        // Intern every state key the batch touches before the transaction (see StateKeyInterner).
        var keysNeeded = new HashSet<StateKey>();
        foreach (var e in events)
        {
            if (e.Event.StateKey is not null)
            {
                keysNeeded.Add(new StateKey(e.Event.Type, e.Event.StateKey));
            }

            if (e.StateBefore is StateBefore.Derived d)
            {
                keysNeeded.UnionWith(d.Delta.Keys);
            }
        }

        var keyNids = await stateKeys.GetOrCreateAsync(keysNeeded, ct);

        if (batch.NewCurrentState is StateBefore.Derived current)
        {
            keysNeeded.UnionWith(current.Delta.Keys);
            keyNids = await stateKeys.GetOrCreateAsync(keysNeeded, ct);
        }

        // Messages built here on the room's current state (the common case) change no state and need no other command:
        // the batch is written by one statement batch, which PostgreSQL runs as one implicit transaction (any error
        // rolls back all of it), so there is neither a BEGIN nor a COMMIT round trip.
        var single = batch.NewlyBuilt
            && batch.NewCurrentState is null
            && batch.ExtremitiesAdded.All(id => events.Any(e => e.Event.EventId == id))
            && events.All(e => e.Event.StateKey is null && e.RejectionReason is null && !e.IsOutlier
                && (e.StateBefore is StateBefore.AfterPrevious || (e.StateBefore is StateBefore.Existing x && x.SnapshotId == head.SnapshotId)));
        var fresh = await nidAllocator.TakeAsync(events.Count, ct);
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var explicitTx = single ? null : await conn.BeginTransactionAsync(ct);
        var tx = explicitTx!; // every command but the final statement batch runs only when the batch is not `single`
        // Outliers among the batch's events too: an event stored as an outlier and now found rejected (its state before
        // failed the checks) is marked so in place; inserting it again would break the unique event ID.
        Dictionary<string, long> existingOutliers = batch.NewlyBuilt ? [] : await PersistWrites.FindOutliersAsync(conn, tx, [.. events.Select(e => e.Event.EventId)], ct);
        var nids = new List<long>(events.Count);
        var batchNids = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < events.Count; i++)
        {
            var nid = existingOutliers.TryGetValue(events[i].Event.EventId, out var old) ? old : fresh[i];
            nids.Add(nid);
            batchNids[events[i].Event.EventId] = nid;
        }

        var pending = new StateSnapshotStore.PendingWrites();
        var sideRows = new EventSideRows();
        var writes = new PersistWrites();
        var redactions = new List<(string RedactionId, string TargetId)>();
        var orderings = new List<long?>(events.Count);
        var stream = firstStreamOrdering;
        long? previousAfter = null;
        long? lastStream = null;
        var linear = true;

        for (var i = 0; i < events.Count; i++)
        {
            var item = events[i];
            var pdu = item.Event;
            long? before = item.StateBefore switch
            {
                StateBefore.Existing x => x.SnapshotId,
                StateBefore.AfterPrevious => previousAfter ?? head.SnapshotId,
                StateBefore.Derived d => await CreateDerivedAsync(conn, tx, room, d, keyNids, batchNids, pending, ct),
                _ => null,
            };
            if (item.StateBefore is StateBefore.Derived || (item.StateBefore is StateBefore.Existing ex && ex.SnapshotId != head.SnapshotId))
            {
                linear = false;
            }

            long? after = before;
            long? keyNid = pdu.StateKey is null ? null : keyNids[new StateKey(pdu.Type, pdu.StateKey)];
            if (before is { } b && keyNid is { } k && item.RejectionReason is null)
            {
                after = await snapshots.CreateAsync(conn, tx, room.RoomNid, b, new Dictionary<long, long> { [k] = nids[i] }, pending, ct);
            }

            long? ordering = item.IsOutlier ? null : stream++;
            orderings.Add(ordering);
            if (ordering is not null)
            {
                lastStream = ordering;
            }

            if (item.IsOutlier && existingOutliers.ContainsKey(pdu.EventId))
            {
                if (item.RejectionReason is not null)
                {
                    await conn.ExecuteAsync(new CommandDefinition(RejectOutlier, new { EventNid = nids[i], item.RejectionReason }, tx, cancellationToken: ct));
                }

                continue;
            }

            if (item.RejectionReason is null)
            {
                sideRows.Add(nids[i], pdu, withSearch: !batch.DeferSearch, timeline: ordering is { } o && !item.SoftFailed ? (pdu.Depth, o) : null);
            }

            if (existingOutliers.ContainsKey(pdu.EventId))
            {
                await conn.ExecuteAsync(new CommandDefinition(DeOutlier, new
                {
                    EventNid = nids[i],
                    StreamOrdering = ordering,
                    StateBefore = before,
                    StateAfter = after,
                    item.RejectionReason,
                    item.SoftFailed,
                }, tx, cancellationToken: ct));
                if (before is not null)
                {
                    previousAfter = after;
                }

                continue;
            }

            writes.AddEvent(nids[i], item, keyNid, ordering, before, after);

            if (pdu.Type == EventTypes.Redaction && pdu.Redacts is { } target && item.RejectionReason is null && !item.SoftFailed)
            {
                redactions.Add((pdu.EventId, target));
            }

            if (before is not null)
            {
                previousAfter = after;
            }
        }

        if (batch.Backfilled)
        {
            // History from another server is not news: the room's stream position and its news stay where they are.
            lastStream = null;
        }

        var removedNids = batch.ExtremitiesRemoved.Count == 0
            ? []
            : (await eventNids.GetNidsAsync(batch.ExtremitiesRemoved, ct, conn, tx)).Values.ToList();
        var addedNids = new List<long>();
        var outsideBatch = batch.ExtremitiesAdded.Where(id => !batchNids.ContainsKey(id)).ToList();
        var looked = outsideBatch.Count == 0 ? new Dictionary<string, long>() : await eventNids.GetNidsAsync(outsideBatch, ct, conn, tx);
        foreach (var id in batch.ExtremitiesAdded)
        {
            if (batchNids.TryGetValue(id, out var n) || looked.TryGetValue(id, out n))
            {
                addedNids.Add(n);
            }
        }

        // A batch without state events on the current state (messages from local senders) cannot change the room's
        // state: its new position goes into the same round trip as its rows.
        var stateUnchanged = batch.NewCurrentState is null
            && events.All(e => e.Event.StateKey is null
                && (e.StateBefore is StateBefore.AfterPrevious || (e.StateBefore is StateBefore.Existing existing && existing.SnapshotId == head.SnapshotId)));
        long? positionInBatch = stateUnchanged ? lastStream : null;
        if (lastStream is { } newest)
        {
            newsTracker.Record(room.RoomNid, newest);
        }

        await writes.ExecuteAsync(conn, explicitTx, room.RoomNid, sideRows, redactions, removedNids, addedNids,
            positionInBatch is { } p ? (head.SnapshotId, p) : null, batch.NewlyBuilt, ct);

        var newSnapshot = head.SnapshotId;
        var stateChanges = new Dictionary<StateKey, string?>();
        long? finalState = batch.CurrentStateIsStateAfterLastEvent ? previousAfter : null;
        if (batch.NewCurrentState is { } explicitState)
        {
            linear = false;
            finalState = explicitState switch
            {
                StateBefore.Existing x => x.SnapshotId,
                StateBefore.Derived d => await CreateDerivedAsync(conn, tx, room, d, keyNids, batchNids, pending, ct),
                _ => null,
            };
        }

        if (finalState is { } resolvedState && resolvedState != head.SnapshotId)
        {
            var finalStateId = resolvedState;
            newSnapshot = finalStateId;
            var changedKeyNids = new Dictionary<long, long>();
            if (linear)
            {
                // Events appended on the current state: the change is exactly the batch's accepted state events.
                for (var i = 0; i < events.Count; i++)
                {
                    var pdu = events[i].Event;
                    if (pdu.StateKey is not null && events[i].RejectionReason is null && !events[i].IsOutlier)
                    {
                        changedKeyNids[keyNids[new StateKey(pdu.Type, pdu.StateKey)]] = nids[i];
                    }
                }
            }
            else
            {
                var oldState = await snapshots.GetAsync(head.SnapshotId, ct, pending);
                var newState = await snapshots.GetAsync(finalStateId, ct, pending);
                foreach (var (k, v) in newState)
                {
                    if (!oldState.TryGetValue(k, out var old) || old != v)
                    {
                        changedKeyNids[k] = v;
                    }
                }

                foreach (var k in oldState.Keys)
                {
                    if (!newState.ContainsKey(k))
                    {
                        changedKeyNids[k] = 0;
                    }
                }
            }

            var batchOrderings = new Dictionary<string, long>(StringComparer.Ordinal);
            for (var i = 0; i < events.Count; i++)
            {
                if (orderings[i] is { } o)
                {
                    batchOrderings[events[i].Event.EventId] = o;
                }
            }

            await ApplyCurrentStateChangesAsync(conn, tx, room, changedKeyNids, batchNids, events, batchOrderings, lastStream ?? head.LastStreamOrdering, stateChanges, ct);
        }

        if ((lastStream is not null || newSnapshot != head.SnapshotId) && positionInBatch is null)
        {
            await conn.ExecuteAsync(new CommandDefinition(UpsertCurrentSnapshot, new
            {
                room.RoomNid,
                SnapshotNid = newSnapshot,
                LastStreamOrdering = lastStream ?? head.LastStreamOrdering,
                AddedExtremities = addedNids.ToArray(),
            }, tx, cancellationToken: ct));
        }

        if (explicitTx is not null)
        {
            await explicitTx.CommitAsync(ct);
        }

        snapshots.Commit(pending);
        foreach (var (id, nid) in batchNids)
        {
            eventNids.Remember(nid, id);
        }

        var extremities = head.ForwardExtremities.Where(e => !batch.ExtremitiesRemoved.Contains(e.EventId)).ToList();
        foreach (var id in batch.ExtremitiesAdded)
        {
            var pdu = events.FirstOrDefault(e => e.Event.EventId == id)?.Event;
            if (pdu is not null && extremities.All(e => e.EventId != id))
            {
                extremities.Add(new Extremity(id, pdu.Depth));
            }
        }

        var state = head.State;
        if (stateChanges.Count > 0)
        {
            var copy = new Dictionary<StateKey, string>(head.State);
            foreach (var (k, v) in stateChanges)
            {
                if (v is null)
                {
                    copy.Remove(k);
                }
                else
                {
                    copy[k] = v;
                }
            }

            state = copy;
        }

        return new PersistResult(orderings, new RoomHead(room, extremities, newSnapshot, state, Math.Max(head.LastStreamOrdering, lastStream ?? 0)));
    }

    private async Task<long> CreateDerivedAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, RoomRecord room, StateBefore.Derived derived, IReadOnlyDictionary<StateKey, long> keyNids,
        Dictionary<string, long> batchNids, StateSnapshotStore.PendingWrites pending, CancellationToken ct)
    {
        var ids = derived.Delta.Values.Where(v => v is not null && !batchNids.ContainsKey(v)).Select(v => v!).Distinct().ToList();
        var found = ids.Count == 0 ? new Dictionary<string, long>() : await eventNids.GetNidsAsync(ids, ct, conn, tx);
        var delta = new Dictionary<long, long>(derived.Delta.Count);
        foreach (var (key, id) in derived.Delta)
        {
            long nid = 0;
            if (id is not null && !batchNids.TryGetValue(id, out nid) && !found.TryGetValue(id, out nid))
            {
                throw new InvalidOperationException($"state event {id} is not stored");
            }

            delta[keyNids[key]] = nid;
        }

        return await snapshots.CreateAsync(conn, tx, room.RoomNid, derived.ParentSnapshotId, delta, pending, ct);
    }

    private async Task ApplyCurrentStateChangesAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, RoomRecord room, Dictionary<long, long> changes, Dictionary<string, long> batchNids,
        IReadOnlyList<EventToPersist> batchEvents, Dictionary<string, long> batchOrderings, long streamOrdering, Dictionary<StateKey, string?> domainChanges, CancellationToken ct)
    {
        var upsertKeys = changes.Where(c => c.Value != 0).Select(c => c.Key).ToArray();
        var deleteKeys = changes.Where(c => c.Value == 0).Select(c => c.Key).ToArray();
        if (upsertKeys.Length > 0)
        {
            await conn.ExecuteAsync(new CommandDefinition(UpsertCurrentState, new { room.RoomNid, Keys = upsertKeys, Events = upsertKeys.Select(k => changes[k]).ToArray() }, tx, cancellationToken: ct));
        }

        if (deleteKeys.Length > 0)
        {
            await conn.ExecuteAsync(new CommandDefinition(DeleteCurrentState, new { room.RoomNid, Keys = deleteKeys }, tx, cancellationToken: ct));
        }

        var keys = await stateKeys.ResolveAsync(changes.Keys, ct);
        var nidToId = batchNids.ToDictionary(kv => kv.Value, kv => kv.Key);
        var unknown = changes.Values.Where(v => v != 0 && !nidToId.ContainsKey(v)).Distinct().ToList();
        if (unknown.Count > 0)
        {
            foreach (var (nid, id) in await eventNids.GetIdsAsync(unknown, ct, conn, tx))
            {
                nidToId[nid] = id;
            }
        }

        // Membership rows follow the member events that entered the current state.
        var memberIds = new List<(string UserId, long EventNid, string EventId)>();
        foreach (var (keyNid, eventNid) in changes)
        {
            var key = keys[keyNid];
            domainChanges[key] = eventNid == 0 ? null : nidToId[eventNid];
            if (key.Type == EventTypes.Member && eventNid != 0)
            {
                memberIds.Add((key.Key, eventNid, nidToId[eventNid]));
            }
        }

        if (memberIds.Count == 0)
        {
            return;
        }

        var inBatch = batchEvents.ToDictionary(e => e.Event.EventId, e => e.Event, StringComparer.Ordinal);
        var outside = memberIds.Where(m => !inBatch.ContainsKey(m.EventId)).Select(m => m.EventId).ToList();
        var loaded = outside.Count == 0 ? new Dictionary<string, Pdu>() : await GetEventsInTransactionAsync(conn, tx, outside, ct);
        foreach (var (userId, eventNid, eventId) in memberIds)
        {
            var pdu = inBatch.GetValueOrDefault(eventId) ?? loaded.GetValueOrDefault(eventId);
            var membership = pdu?.Membership ?? "leave";
            var ordering = batchOrderings.TryGetValue(eventId, out var own) ? own : streamOrdering;
            await conn.ExecuteAsync(new CommandDefinition(UpsertMembership, new { room.RoomNid, UserId = userId, Membership = membership, EventNid = eventNid, StreamOrdering = ordering }, tx, cancellationToken: ct));
        }
    }

    private static async Task<Dictionary<string, Pdu>> GetEventsInTransactionAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<string> ids, CancellationToken ct)
    {
        var result = new Dictionary<string, Pdu>(StringComparer.Ordinal);
        foreach (var row in await conn.QueryAsync<EventRow>(new CommandDefinition(SelectEvents, new { Ids = ids.ToArray() }, tx, cancellationToken: ct)))
        {
            using var doc = JsonDocument.Parse(row.Json);
            result[row.EventId] = Pdu.Parse(doc.RootElement.Clone(), RoomVersion.Find(row.Version)!, row.EventId);
        }

        return result;
    }
}
