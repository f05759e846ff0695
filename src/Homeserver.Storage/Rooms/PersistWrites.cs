using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Storage.RoomFeatures;
using Npgsql;
using NpgsqlTypes;

namespace Homeserver.Storage.Rooms;

/// <summary>
/// The rows a persisted batch adds, collected while <see cref="RoomRepository.PersistAsync"/> walks the batch and
/// written in one round trip (an <see cref="NpgsqlBatch"/> inside the batch's transaction): the events (with the client
/// transaction of a local send), their prev edges, relations and search text, the forward extremities and the room's
/// position in one statement (<c>unnest</c> of arrays into each table), whatever the number of events;
/// then the redaction marks.
/// </summary>
internal sealed class PersistWrites
{
    // Every row of a batch in one statement: data-modifying CTEs, each an unnest of arrays.
    // One statement instead of nine took PostgreSQL's per-statement work (executor start-up and shutdown, a protocol
    // exchange, a snapshot) out of the room's one writer's path. All CTEs see the database as it was before the
    // statement, so an event must not be both a removed and an added extremity (the caller keeps the lists apart).
    // Only the parts a batch has are in its statement (RowParts): executor start-up opens and locks every table a
    // statement writes and each of its indexes, whether or not it has a row for them, and a local batch of messages
    // writes no search rows (the indexer does), as a rule no relations, and either moves the room's position or only
    // its extremities. The parameters stay the same in every variant ($1-$38; the unused ones are typed by Npgsql).
    // Conflicts: a remote event may list an edge twice, and an event first stored as an outlier already has its relation
    // and search rows; the events the writer just built cannot have any, and are written without the conflict checks
    // (each ON CONFLICT probes the index before inserting: 8% of PostgreSQL's CPU under load).
    // Events never take ON CONFLICT: a client transaction that already created an event violates the unique index on
    // the events' transaction columns and fails the batch (the writer then answers the retry with the stored event
    // instead of creating a second one).
    // Extremities go by number, not by a join with events on the IDs (the join's plan was remade on every call), into the
    // array on the room's row (0017): with the position when the batch moves it (the row is inserted by the room's first
    // such batch), else on their own. A batch with state changes moves the position after this statement
    // (RoomRepository's UpsertCurrentSnapshot), which inserts the row of a new room with its extremities.
    private static string RowsStatement(RowParts parts)
    {
        var conflict = parts.HasFlag(RowParts.CheckConflicts) ? " ON CONFLICT DO NOTHING" : string.Empty;
        var ctes = new List<string>();
        if (parts.HasFlag(RowParts.Position))
        {
            ctes.Add($"""
                position AS (
                    INSERT INTO room_current_snapshot (room_nid, snapshot_nid, last_stream_ordering, forward_extremities) SELECT $1, $31, $32, $29
                    ON CONFLICT (room_nid) DO UPDATE SET snapshot_nid = EXCLUDED.snapshot_nid,
                        last_stream_ordering = GREATEST(room_current_snapshot.last_stream_ordering, EXCLUDED.last_stream_ordering),
                        forward_extremities = {MovedExtremities("room_current_snapshot.forward_extremities")})
                """);
        }
        else if (parts.HasFlag(RowParts.Extremities))
        {
            ctes.Add($"""
                extremities AS (
                    UPDATE room_current_snapshot SET forward_extremities = {MovedExtremities("forward_extremities")} WHERE room_nid = $1)
                """);
        }

        ctes.Add("""
            new_events AS (
                INSERT INTO events (event_nid, event_id, room_nid, event_type, state_key, state_key_nid, sender, depth, origin_server_ts,
                                    stream_ordering, topological_ordering, state_before, state_after, outlier, rejection_reason, soft_failed, json,
                                    txn_device_id, txn_id)
                SELECT u.nid, u.id, $1, u.type, u.sk, u.sknid, u.sender, u.depth, u.ts, u.so, u.depth, u.sb, u.sa, u.outlier, u.rr, u.sf, u.json,
                       u.tdev, u.tid
                FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[],
                            $11::bigint[], $12::bigint[], $13::boolean[], $14::text[], $15::boolean[], $16::text[], $19::text[], $20::text[])
                     AS u (nid, id, type, sk, sknid, sender, depth, ts, so, sb, sa, outlier, rr, sf, json, tdev, tid))
            """);
        if (parts.HasFlag(RowParts.Relations))
        {
            ctes.Add($"""
                relations AS (
                    INSERT INTO event_relations (event_nid, room_nid, relates_to_id, rel_type, aggregation_key)
                    SELECT n, $1, p, t, k FROM unnest($21::bigint[], $22::text[], $23::text[], $24::text[]) AS u (n, p, t, k){conflict})
                """);
        }

        var participants = new List<string>();
        if (parts.HasFlag(RowParts.Threads))
        {
            // One row per thread (the batch's latest reply to each, EventSideRows), moved only forwards.
            ctes.Add("""
                thread_latest AS (
                    INSERT INTO threads (room_nid, thread_id, latest_event_nid, topological_ordering, stream_ordering)
                    SELECT $1, p, n, t, s FROM unnest($33::text[], $34::bigint[], $35::bigint[], $36::bigint[]) AS u (p, n, t, s)
                    ON CONFLICT (room_nid, thread_id) DO UPDATE SET latest_event_nid = EXCLUDED.latest_event_nid,
                        topological_ordering = EXCLUDED.topological_ordering, stream_ordering = EXCLUDED.stream_ordering
                    WHERE (EXCLUDED.topological_ordering, EXCLUDED.stream_ordering) > (threads.topological_ordering, threads.stream_ordering))
                """);

            // Who takes part in a thread (0020_thread_participants.sql): the senders of the batch's replies in the
            // timeline ($37-$38) and the roots' senders. A batch of events that may be stored already (remote events,
            // backfill) can also hold a root: of a thread of this batch, or of a thread its replies made before it
            // arrived (backfill brings a thread's replies before its root). One insert for all sources, so that no row
            // is inserted twice in a statement.
            participants.Add("SELECT p, s FROM unnest($37::text[], $38::text[]) AS u (p, s)");
            participants.Add("SELECT e.event_id, e.sender FROM events e WHERE e.event_id = ANY($33::text[]) AND e.room_nid = $1");
        }

        if (parts.HasFlag(RowParts.CheckConflicts))
        {
            participants.Add("""
                SELECT u.id, u.sender FROM unnest($3::text[], $7::text[]) AS u (id, sender)
                WHERE u.id = ANY($33::text[]) OR EXISTS (SELECT 1 FROM threads t WHERE t.room_nid = $1 AND t.thread_id = u.id)
                """);
        }

        if (participants.Count > 0)
        {
            ctes.Add($"""
                participants AS (
                    INSERT INTO thread_participants (room_nid, thread_id, user_id)
                    SELECT $1, p.thread_id, p.user_id FROM ({string.Join("\nUNION ", participants)}) AS p (thread_id, user_id)
                    ON CONFLICT DO NOTHING)
                """);
        }

        if (parts.HasFlag(RowParts.Search))
        {
            ctes.Add($"""
                search AS (
                    INSERT INTO event_search (event_nid, room_nid, search_key, vector)
                    SELECT n, $1, k, to_tsvector('english', t) FROM unnest($25::bigint[], $26::text[], $27::text[]) AS u (n, k, t){conflict})
                """);
        }

        return $"""
            WITH {string.Join(",\n", ctes)}
            INSERT INTO event_prev_events (event_nid, prev_event_id) SELECT * FROM unnest($17::bigint[], $18::text[]){conflict}
            """;
    }

    /// <summary>What a batch's rows statement writes besides its events and their edges (see RowsStatement).</summary>
    [Flags]
    private enum RowParts
    {
        None = 0,
        CheckConflicts = 1,
        Relations = 2,
        Search = 4,
        /// <summary>Moves the room's position (and its extremities with it); excludes <see cref="Extremities"/>.</summary>
        Position = 8,
        /// <summary>Moves only the room's forward extremities.</summary>
        Extremities = 16,
        /// <summary>Moves threads' latest replies (0018_threads.sql).</summary>
        Threads = 32,
    }

    // The room's forward extremities after the batch: those it had but the removed ($28), and the added ($29).
    private static string MovedExtremities(string stored) =>
        $"ARRAY(SELECT x FROM unnest({stored}) AS x WHERE x <> ALL($28::bigint[]) UNION SELECT unnest($29::bigint[]))";

    // The rows statement's plan does not depend on the values (every table is written from unnest of arrays), but
    // PostgreSQL compares a prepared statement's generic plan with plans made for the values at hand, and an array of
    // one element makes the custom plan look cheaper: with one sender (batches of one event) it planned the statement
    // again on every execution, 6% of PostgreSQL's CPU. The setting lasts until the end of the batch's transaction
    // (the pool keeps no session settings: StorageServices).
    internal const string GenericPlans = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)";

    // Every variant's text, made once: a statement's text is the key of its prepared statement.
    private static readonly string[] RowsStatements =
        [.. Enumerable.Range(0, (int)RowParts.Threads * 2).Select(i => RowsStatement((RowParts)i))];

    // A redacted event loses its relation and its searchable text with its content (redaction drops both). When it was
    // its thread's latest reply, the thread's latest is the one before it, or the thread is gone with its last reply.
    // Every part sees the tables as they were before the statement: the relation being deleted is left out by number.
    // The thread's row is either moved or deleted, never both (latest has a row or none). Its sender no longer takes part
    // in the thread when that was their last reply in the timeline and they did not send the root.
    private const string MarkRedacted = $"""
        WITH target AS (
            UPDATE events SET redacted_by = $1 WHERE event_id = $2 AND room_nid = $3 AND redacted_by IS NULL RETURNING event_nid, sender),
        relation AS (DELETE FROM event_relations WHERE event_nid IN (SELECT event_nid FROM target) RETURNING event_nid, relates_to_id, rel_type),
        search AS (DELETE FROM event_search WHERE event_nid IN (SELECT event_nid FROM target)),
        thread AS (
            SELECT t.thread_id, t.latest_event_nid FROM threads t JOIN relation r ON r.rel_type = 'm.thread' AND r.relates_to_id = t.thread_id
            WHERE t.room_nid = $3 AND t.latest_event_nid = r.event_nid),
        latest AS (
            SELECT e.event_nid, e.topological_ordering, e.stream_ordering
            FROM thread
            JOIN event_relations r ON r.relates_to_id = thread.thread_id AND r.rel_type = 'm.thread' AND r.event_nid <> thread.latest_event_nid
            JOIN events e ON e.event_nid = r.event_nid AND e.room_nid = $3
            WHERE {StoredEventQueries.Visible}
            ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT 1),
        unparticipated AS (
            DELETE FROM thread_participants tp USING relation r, target
            WHERE r.rel_type = 'm.thread' AND tp.room_nid = $3 AND tp.user_id = target.sender AND tp.thread_id = r.relates_to_id
              AND NOT EXISTS (SELECT 1 FROM events p WHERE p.event_id = r.relates_to_id AND p.room_nid = $3 AND p.sender = target.sender)
              AND NOT EXISTS (
                  SELECT 1 FROM event_relations o JOIN events e ON e.event_nid = o.event_nid AND e.room_nid = $3
                  WHERE o.relates_to_id = r.relates_to_id AND o.rel_type = 'm.thread' AND o.event_nid <> r.event_nid
                    AND e.sender = target.sender AND {StoredEventQueries.Visible})),
        moved AS (
            UPDATE threads t SET latest_event_nid = l.event_nid, topological_ordering = l.topological_ordering, stream_ordering = l.stream_ordering
            FROM thread, latest l WHERE t.room_nid = $3 AND t.thread_id = thread.thread_id)
        DELETE FROM threads t USING thread WHERE t.room_nid = $3 AND t.thread_id = thread.thread_id AND NOT EXISTS (SELECT 1 FROM latest)
        """;

    private const string SelectOutliers = """
        SELECT event_id, event_nid FROM events WHERE event_id = ANY($1::text[]) AND outlier
        """;

    private readonly List<long> _nids = [];
    private readonly List<string> _ids = [];
    private readonly List<string> _types = [];
    private readonly List<string?> _stateKeys = [];
    private readonly List<long?> _stateKeyNids = [];
    private readonly List<string> _senders = [];
    private readonly List<long> _depths = [];
    private readonly List<long> _timestamps = [];
    private readonly List<long?> _streams = [];
    private readonly List<long?> _before = [];
    private readonly List<long?> _after = [];
    private readonly List<bool> _outliers = [];
    private readonly List<string?> _rejections = [];
    private readonly List<bool> _softFailed = [];
    private readonly List<string> _json = [];
    private readonly List<long> _prevNids = [];
    private readonly List<string> _prevIds = [];
    private readonly List<string?> _txnDevices = [];
    private readonly List<string?> _txnIds = [];

    /// <summary>
    /// Of <paramref name="eventIds"/>, those already stored as outliers, with their numbers. An event first stored as
    /// an outlier (e.g. from an auth chain or a join's state) keeps its number when it later arrives in the timeline:
    /// snapshots may refer to it.
    /// </summary>
    public static async Task<Dictionary<string, long>> FindOutliersAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string[] eventIds, CancellationToken ct)
    {
        var outliers = new Dictionary<string, long>(StringComparer.Ordinal);
        if (eventIds.Length == 0)
        {
            return outliers;
        }

        await using var batch = new NpgsqlBatch(conn, tx);
        batch.BatchCommands.Add(Command(SelectOutliers, [eventIds])); // one array parameter, not the params array itself
        await using var reader = await batch.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            outliers[reader.GetString(0)] = reader.GetInt64(1);
        }

        return outliers;
    }

    public void AddEvent(long nid, EventToPersist item, long? keyNid, long? stream, long? before, long? after)
    {
        var pdu = item.Event;
        _nids.Add(nid);
        _ids.Add(pdu.EventId);
        _types.Add(pdu.Type);
        _stateKeys.Add(pdu.StateKey);
        _stateKeyNids.Add(keyNid);
        _senders.Add(pdu.Sender);
        _depths.Add(pdu.Depth);
        _timestamps.Add(pdu.OriginServerTs);
        _streams.Add(stream);
        _before.Add(before);
        _after.Add(after);
        _outliers.Add(item.IsOutlier);
        _rejections.Add(item.RejectionReason);
        _softFailed.Add(item.SoftFailed);
        _json.Add(pdu.Json.GetRawText());
        foreach (var prev in pdu.PrevEventIds)
        {
            _prevNids.Add(nid);
            _prevIds.Add(prev);
        }

        // An event's auth event IDs are not written apart from its JSON (0013_lighter_event_rows.sql).
        // The client transaction is on the event's row; its unique index answers a retry (0015_transactions_on_events.sql).
        _txnDevices.Add(item.Transaction?.DeviceId);
        _txnIds.Add(item.Transaction?.TxnId);
    }

    /// <summary>
    /// Writes everything collected, then the relations and search rows, the redactions, the extremity changes and (when
    /// the batch cannot change the state) the room's stream position, in one round trip. Without
    /// <paramref name="tx"/>, the statements still succeed or fail together: PostgreSQL runs a batch as one implicit
    /// transaction.
    /// </summary>
    public async Task ExecuteAsync(
        NpgsqlConnection conn, NpgsqlTransaction? tx, long roomNid, EventSideRows sideRows, IReadOnlyList<(string RedactionId, string TargetId)> redactions,
        IReadOnlyList<long> extremitiesRemoved, IReadOnlyList<long> extremitiesAdded, (long SnapshotNid, long LastStream)? roomPosition, bool newlyBuilt,
        CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(conn, tx);
        batch.BatchCommands.Add(new NpgsqlBatchCommand(GenericPlans));
        var removed = extremitiesRemoved.Except(extremitiesAdded).ToArray();
        var side = sideRows.Arrays();
        var parts = (newlyBuilt ? RowParts.None : RowParts.CheckConflicts)
            | (side.RelationNids.Length > 0 ? RowParts.Relations : RowParts.None)
            | (side.ThreadIds.Length > 0 ? RowParts.Threads : RowParts.None)
            | (side.SearchNids.Length > 0 ? RowParts.Search : RowParts.None)
            | (roomPosition is not null ? RowParts.Position
                : removed.Length + extremitiesAdded.Count > 0 ? RowParts.Extremities : RowParts.None);
        batch.BatchCommands.Add(Command(
            RowsStatements[(int)parts],
            roomNid,
            _nids.ToArray(), _ids.ToArray(), _types.ToArray(), _stateKeys.ToArray(), _stateKeyNids.ToArray(), _senders.ToArray(), _depths.ToArray(),
            _timestamps.ToArray(), _streams.ToArray(), _before.ToArray(), _after.ToArray(), _outliers.ToArray(), _rejections.ToArray(),
            _softFailed.ToArray(), _json.ToArray(),
            _prevNids.ToArray(), _prevIds.ToArray(),
            _txnDevices.ToArray(), _txnIds.ToArray(),
            side.RelationNids, side.Parents, side.RelTypes, side.Keys,
            side.SearchNids, side.SearchKeys, side.Texts,
            removed, extremitiesAdded.ToArray(),
            roomPosition is not null, roomPosition?.SnapshotNid ?? 0L, roomPosition?.LastStream ?? 0L,
            side.ThreadIds, side.ThreadLatestNids, side.ThreadTopologicals, side.ThreadStreams,
            side.ParticipantThreadIds, side.Participants));

        // After the rows, so that a redaction in the same batch removes its target's relation and search rows.
        foreach (var (redactionId, targetId) in redactions)
        {
            batch.BatchCommands.Add(Command(MarkRedacted, redactionId, targetId, roomNid));
        }

        await batch.ExecuteNonQueryAsync(ct);
    }

    /// <summary>A batch command with positional parameters ($1, $2, ...); the SQL casts every array parameter.</summary>
    internal static NpgsqlBatchCommand Command(string sql, params object?[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(value switch
            {
                long?[] nullableLongs => new NpgsqlParameter { Value = nullableLongs, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint },
                string?[] strings => new NpgsqlParameter { Value = strings, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text },
                _ => new NpgsqlParameter { Value = value ?? DBNull.Value },
            });
        }

        return command;
    }
}
