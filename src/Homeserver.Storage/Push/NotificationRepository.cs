using Dapper;
using Homeserver.Push;
using Homeserver.Storage.Rooms;
using Npgsql;

namespace Homeserver.Storage.Push;

/// <summary>
/// The <c>notifications</c> and <c>notification_read_positions</c> tables: a notification is unread while its stream
/// ordering is above both the room's read position (unthreaded receipts, thread '') and its thread's. Users and rooms
/// are stored by number (<see cref="NotificationNids"/>), events by their stream ordering; readers join back to the IDs.
/// </summary>
internal sealed class NotificationRepository(NpgsqlDataSource db) : INotificationStore
{
    private readonly UnreadCountCache _counts = new();
    private readonly NotificationNids _nids = new(db);

    private const string ReadPositionJoin = """
        LEFT JOIN notification_read_positions r0 ON r0.user_nid = a.user_nid AND r0.room_nid = a.room_nid AND r0.thread_id = ''
        LEFT JOIN notification_read_positions rt ON rt.user_nid = a.user_nid AND rt.room_nid = a.room_nid AND rt.thread_id = a.thread_id
        """;

    private const string ReadUpTo = "GREATEST(COALESCE(r0.stream_ordering, 0), COALESCE(rt.stream_ordering, 0))";

    // The IDs a row is shown with: the user's is the caller's, the room's and the event's are joined back.
    private const string RowColumns = """
        @UserId::text AS UserId, r.room_id AS RoomId, e.event_id AS EventId, a.stream_ordering AS StreamOrdering,
        a.thread_id AS ThreadId, a.actions AS ActionsJson, a.highlight AS Highlight, a.ts AS Ts
        """;

    private const string RowIdJoin = """
        JOIN rooms r ON r.room_nid = a.room_nid
        JOIN events e ON e.stream_ordering = a.stream_ordering
        """;

    private const string InsertRows = """
        INSERT INTO notifications (stream_ordering, room_nid, ts, user_nid, highlight, thread_id, actions)
        SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::integer[], $5::boolean[], $6::text[], $7::text[])
        """;

    // The evaluator's recovery evaluates again events after its recorded position, some of whose notifications were
    // stored before the crash: a row already there is kept. Only then, as ON CONFLICT's speculative insertion made the
    // live insert 28% dearer per row (18.4 against 14.4 µs, one sender in an eight-member room).
    private const string InsertRowsKeepingStored = InsertRows + " ON CONFLICT DO NOTHING";

    private const string MoveEvaluatedThrough = """
        UPDATE push_evaluation_position SET stream_ordering = GREATEST(stream_ordering, $1)
        """;

    private const string SelectEvaluatedThrough = "SELECT stream_ordering FROM push_evaluation_position";

    // What the evaluator is told of (the room writers' commit listeners): timeline events and out-of-band memberships,
    // with a stream position, not rejected; soft-failed events are not evaluated.
    private const string SelectUnevaluated = """
        SELECT e.stream_ordering AS StreamOrdering, r.room_id AS RoomId, e.event_id AS EventId, e.state_after AS StateAfter
        FROM events e
        JOIN rooms r ON r.room_nid = e.room_nid
        WHERE e.stream_ordering > @After AND e.stream_ordering <= @UpTo
          AND e.rejection_reason IS NULL AND NOT e.soft_failed
        ORDER BY e.stream_ordering
        LIMIT @Limit
        """;

    // The store's commit does not wait for its WAL to reach the disk (the next flush takes it along, at the latest the
    // WAL writer's within a fraction of a second). What it writes is derived from events that are already durable, and
    // a crash loses the evaluator's in-memory queue anyway; waiting had the store's commits and the room writers' take
    // turns at the WAL flush (8 senders into one room: the writer's statement was in WALSync or waiting for the WAL
    // write lock in 56% of the samples where it ran, the store in 61% of its). set_config's local value lasts until
    // the end of the batch's implicit transaction, as the pool keeps no session settings (StorageServices).
    private const string NoFlushWait = "SELECT set_config('synchronous_commit', 'off', true)";

    // Moves a read position forward and drops the notifications it made read, in one statement; counts 1 when it moved.
    // Read notifications that do not highlight are of no further use (highlights stay for GET /notifications).
    // Only the rows between the old position and the new one are visited (the primary key's range): the ones below
    // were dropped when the position got there. Scanning all of a user's rows in the room instead stepped over every
    // deleted row not yet vacuumed, and under a steady stream of messages that was most of PostgreSQL's CPU.
    // (A notification stored after a receipt had already passed it is not counted, as it is read, and stays until pruned.)
    private const string MarkRead = """
        WITH previous AS (
            SELECT stream_ordering FROM notification_read_positions WHERE user_nid = $1 AND room_nid = $2 AND thread_id = $3),
        moved AS (
            INSERT INTO notification_read_positions (user_nid, room_nid, thread_id, stream_ordering) VALUES ($1, $2, $3, $4)
            ON CONFLICT (user_nid, room_nid, thread_id) DO UPDATE SET stream_ordering = EXCLUDED.stream_ordering
            WHERE notification_read_positions.stream_ordering < EXCLUDED.stream_ordering
            RETURNING 1),
        deleted AS (
            DELETE FROM notifications
            WHERE user_nid = $1 AND stream_ordering > COALESCE((SELECT stream_ordering FROM previous), 0) AND stream_ordering <= $4
              AND room_nid = $2 AND NOT highlight AND ($3 = '' OR thread_id = $3)
              AND EXISTS (SELECT 1 FROM moved))
        SELECT count(*) FROM moved
        """;

    // Per room, the unread notifications stored after a position (0: all of them; else the position of counts kept
    // in UnreadCountCache, which this adds to). Counted inside a LATERAL per room, so that each room is one range of
    // stream positions from its own start (a plain join let the planner scan all of the user's rows and filter).
    private const string SelectUnreadCounts = $"""
        SELECT q.room_nid AS RoomNid, c.thread_id AS ThreadId, c.notifications AS Notifications, c.highlights AS Highlights
        FROM unnest(@RoomNids, @After) AS q (room_nid, after)
        CROSS JOIN LATERAL (
            SELECT a.thread_id, count(*) AS notifications, count(*) FILTER (WHERE a.highlight) AS highlights
            FROM notifications a
            {ReadPositionJoin}
            WHERE a.user_nid = @UserNid AND a.room_nid = q.room_nid AND a.stream_ordering > q.after AND a.stream_ordering <= @UpTo
              AND a.stream_ordering > {ReadUpTo}
            GROUP BY a.thread_id) c
        """;

    private const string SelectNotifications = $"""
        SELECT {RowColumns}, (a.stream_ordering <= {ReadUpTo}) AS Read
        FROM notifications a
        {ReadPositionJoin}
        {RowIdJoin}
        WHERE a.user_nid = @UserNid AND a.stream_ordering < @Before AND (a.highlight OR NOT @OnlyHighlight)
        ORDER BY a.stream_ordering DESC
        LIMIT @Limit
        """;

    private const string SelectUnreadAfter = $"""
        SELECT {RowColumns}
        FROM notifications a
        {ReadPositionJoin}
        {RowIdJoin}
        WHERE a.user_nid = @UserNid AND a.stream_ordering > @After AND a.stream_ordering > {ReadUpTo}
        ORDER BY a.stream_ordering
        LIMIT @Limit
        """;

    private const string SelectBadgeRooms = $"""
        SELECT count(DISTINCT a.room_nid) FROM notifications a {ReadPositionJoin}
        WHERE a.user_nid = @UserNid AND a.stream_ordering > {ReadUpTo}
        """;

    private const string SelectBadgeNotifications = $"""
        SELECT count(*) FROM notifications a {ReadPositionJoin}
        WHERE a.user_nid = @UserNid AND a.stream_ordering > {ReadUpTo}
        """;

    private const string Prune = "DELETE FROM notifications WHERE ts < @Ts";

    private sealed class UnevaluatedRow
    {
        public long StreamOrdering { get; init; }

        public string RoomId { get; init; } = string.Empty;

        public string EventId { get; init; } = string.Empty;

        public long? StateAfter { get; init; }
    }

    private sealed class NotificationRowData
    {
        public string UserId { get; set; } = string.Empty;

        public string RoomId { get; set; } = string.Empty;

        public string EventId { get; set; } = string.Empty;

        public long StreamOrdering { get; set; }

        public string ThreadId { get; set; } = string.Empty;

        public string ActionsJson { get; set; } = "[]";

        public bool Highlight { get; set; }

        public long Ts { get; set; }

        public bool Read { get; set; }

        public NotificationRow ToRow() => new(UserId, RoomId, EventId, StreamOrdering, ThreadId, ActionsJson, Highlight, Ts);
    }

    private sealed class CountRow
    {
        public long RoomNid { get; set; }

        public string ThreadId { get; set; } = string.Empty;

        public long Notifications { get; set; }

        public long Highlights { get; set; }
    }

    /// <summary>
    /// The notifications and read positions of evaluated batches: one round trip, one (implicit) transaction. Each event is
    /// evaluated once and notifies a user once, so the rows are new (no conflict check: it probed the index for every row).
    /// A statement per read position: one statement for all of them (a join of the positions with the notifications)
    /// was planned, once generic, as a scan of the whole table (75 ms instead of 0.08 ms per position).
    /// Rows and positions of a user or room without a number (not a local user, a room not stored) are left out, and so
    /// are rows that a position of the same call already covers (<see cref="ReadOnArrival"/>).
    /// </summary>
    public async Task AddAsync(IReadOnlyList<NotificationRow> rows, IReadOnlyList<ReadPosition> reads, long? evaluatedThrough, bool mayRepeat, CancellationToken ct)
    {
        List<NotificationRow> stored = [];
        List<ReadPosition> moved = [];
        IReadOnlyDictionary<string, int> users = new Dictionary<string, int>();
        IReadOnlyDictionary<string, long> rooms = new Dictionary<string, long>();
        if (rows.Count > 0 || reads.Count > 0)
        {
            users = await _nids.UsersAsync(rows.Select(r => r.UserId).Concat(reads.Select(r => r.UserId)), ct);
            rooms = await _nids.RoomsAsync(rows.Select(r => r.RoomId).Concat(reads.Select(r => r.RoomId)), ct);
            var readOnArrival = ReadOnArrival(reads);
            stored = rows.Where(r => users.ContainsKey(r.UserId) && rooms.ContainsKey(r.RoomId) && !readOnArrival(r)).ToList();
            moved = reads.Where(r => users.ContainsKey(r.UserId) && rooms.ContainsKey(r.RoomId)).ToList();
        }

        if (stored.Count == 0 && moved.Count == 0 && evaluatedThrough is null)
        {
            return;
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var batch = new NpgsqlBatch(conn);
        batch.BatchCommands.Add(new NpgsqlBatchCommand(NoFlushWait));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(PersistWrites.GenericPlans)); // the rows' insert is an unnest too
        if (stored.Count > 0)
        {
            batch.BatchCommands.Add(PersistWrites.Command(
                mayRepeat ? InsertRowsKeepingStored : InsertRows,
                stored.Select(r => r.StreamOrdering).ToArray(),
                stored.Select(r => rooms[r.RoomId]).ToArray(),
                stored.Select(r => r.Ts).ToArray(),
                stored.Select(r => users[r.UserId]).ToArray(),
                stored.Select(r => r.Highlight).ToArray(),
                stored.Select(r => r.ThreadId).ToArray(),
                stored.Select(r => r.ActionsJson).ToArray()));
        }

        foreach (var read in moved)
        {
            batch.BatchCommands.Add(MarkReadCommand(users[read.UserId], rooms[read.RoomId], read));
        }

        if (evaluatedThrough is { } through)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(MoveEvaluatedThrough) { Parameters = { new() { Value = through } } });
        }

        await batch.ExecuteNonQueryAsync(ct);
        _counts.OnStored(stored);
        foreach (var read in moved)
        {
            _counts.Invalidate(read.UserId);
        }
    }

    /// <summary>
    /// Which rows a read position stored in the same call makes read as they arrive: those that do not highlight, at or
    /// below the position of their user in their room, for the whole room (thread '') or their own thread. Read rows
    /// that do not highlight are deleted when a position passes them (MarkRead), so writing them would only have the
    /// same statement batch delete them again. Under a stream of messages this is most of the rows: each sender's own
    /// send moves their read position past the messages of the others in the same batches (8 senders into one room:
    /// about half of the rows, each an insert into the table and its two indexes, then a delete).
    /// </summary>
    private static Func<NotificationRow, bool> ReadOnArrival(IReadOnlyList<ReadPosition> reads)
    {
        if (reads.Count == 0)
        {
            return _ => false;
        }

        var upTo = new Dictionary<(string UserId, string RoomId, string ThreadId), long>();
        foreach (var read in reads)
        {
            var key = (read.UserId, read.RoomId, read.ThreadId);
            upTo[key] = Math.Max(read.StreamOrdering, upTo.GetValueOrDefault(key));
        }

        return row => !row.Highlight
            && (upTo.GetValueOrDefault((row.UserId, row.RoomId, string.Empty)) >= row.StreamOrdering
                || upTo.GetValueOrDefault((row.UserId, row.RoomId, row.ThreadId)) >= row.StreamOrdering);
    }

    public async Task<long> GetEvaluatedThroughAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<long>(new CommandDefinition(SelectEvaluatedThrough, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<UnevaluatedEvent>> GetUnevaluatedAsync(long after, long upTo, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<UnevaluatedRow>(new CommandDefinition(SelectUnevaluated, new { After = after, UpTo = upTo, Limit = limit }, cancellationToken: ct));
        return rows.Select(r => new UnevaluatedEvent(r.StreamOrdering, r.RoomId, r.EventId, r.StateAfter)).ToList();
    }

    public async Task<bool> MarkReadAsync(ReadPosition position, CancellationToken ct)
    {
        if (await _nids.UserAsync(position.UserId, ct) is not { } userNid || await _nids.RoomAsync(position.RoomId, ct) is not { } roomNid)
        {
            return false;
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var batch = new NpgsqlBatch(conn);
        batch.BatchCommands.Add(MarkReadCommand(userNid, roomNid, position));
        var moved = Convert.ToInt64(await batch.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture) > 0;
        if (moved)
        {
            _counts.Invalidate(position.UserId);
        }

        return moved;
    }

    private static NpgsqlBatchCommand MarkReadCommand(int userNid, long roomNid, ReadPosition p) =>
        PersistWrites.Command(MarkRead, userNid, roomNid, p.ThreadId, p.StreamOrdering);

    public async Task<IReadOnlyList<UnreadCount>> GetUnreadCountsAsync(string userId, IReadOnlyCollection<string> roomIds, long upToStream, CancellationToken ct)
    {
        // Rooms with counts kept from an earlier sync count only what was stored since; the others count everything.
        var generation = _counts.Current(userId);
        var rooms = roomIds.Distinct(StringComparer.Ordinal).ToArray();
        var after = new long[rooms.Length];
        var byRoom = new Dictionary<string, Dictionary<string, UnreadCount>>(StringComparer.Ordinal);
        for (var i = 0; i < rooms.Length; i++)
        {
            var threads = byRoom[rooms[i]] = new Dictionary<string, UnreadCount>(StringComparer.Ordinal);
            if (_counts.TryGet(userId, rooms[i], upToStream, generation, out after[i], out var cached))
            {
                foreach (var count in cached)
                {
                    threads[count.ThreadId] = count;
                }
            }
        }

        // A user or room without a number has no notifications.
        var userNid = await _nids.UserAsync(userId, ct);
        var roomNids = await _nids.RoomsAsync(rooms, ct);
        var counted = Enumerable.Range(0, rooms.Length).Where(i => roomNids.ContainsKey(rooms[i])).ToArray();
        if (userNid is not null && counted.Length > 0)
        {
            var roomByNid = counted.ToDictionary(i => roomNids[rooms[i]], i => rooms[i]);
            await using var conn = await db.OpenConnectionAsync(ct);
            var rows = await conn.QueryAsync<CountRow>(new CommandDefinition(
                SelectUnreadCounts,
                new { UserNid = userNid.Value, RoomNids = counted.Select(i => roomNids[rooms[i]]).ToArray(), After = counted.Select(i => after[i]).ToArray(), UpTo = upToStream },
                cancellationToken: ct));
            foreach (var row in rows)
            {
                var roomId = roomByNid[row.RoomNid];
                var threads = byRoom[roomId];
                var previous = threads.GetValueOrDefault(row.ThreadId);
                threads[row.ThreadId] = new UnreadCount(roomId, row.ThreadId, (previous?.Notifications ?? 0) + row.Notifications, (previous?.Highlights ?? 0) + row.Highlights);
            }
        }

        var result = new List<UnreadCount>();
        foreach (var (roomId, threads) in byRoom)
        {
            var counts = threads.Values.ToList();
            _counts.Store(userId, roomId, upToStream, generation, counts);
            result.AddRange(counts);
        }

        return result;
    }

    public async Task<IReadOnlyList<StoredNotification>> GetNotificationsAsync(string userId, long? before, int limit, bool onlyHighlight, CancellationToken ct)
    {
        if (await _nids.UserAsync(userId, ct) is not { } userNid)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<NotificationRowData>(new CommandDefinition(
            SelectNotifications,
            new { UserId = userId, UserNid = userNid, Before = before ?? long.MaxValue, OnlyHighlight = onlyHighlight, Limit = limit },
            cancellationToken: ct));
        return rows.Select(r => new StoredNotification(r.ToRow(), r.Read)).ToList();
    }

    public async Task<IReadOnlyList<NotificationRow>> GetUnreadAfterAsync(string userId, long afterStream, int limit, CancellationToken ct)
    {
        if (await _nids.UserAsync(userId, ct) is not { } userNid)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<NotificationRowData>(new CommandDefinition(
            SelectUnreadAfter, new { UserId = userId, UserNid = userNid, After = afterStream, Limit = limit }, cancellationToken: ct));
        return rows.Select(r => r.ToRow()).ToList();
    }

    public async Task<long> GetBadgeCountAsync(string userId, bool groupByRoom, CancellationToken ct)
    {
        if (await _nids.UserAsync(userId, ct) is not { } userNid)
        {
            return 0;
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<long>(new CommandDefinition(groupByRoom ? SelectBadgeRooms : SelectBadgeNotifications, new { UserNid = userNid }, cancellationToken: ct));
    }

    public async Task<int> PruneAsync(long olderThanTs, CancellationToken ct)
    {
        int pruned;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            pruned = await conn.ExecuteAsync(new CommandDefinition(Prune, new { Ts = olderThanTs }, cancellationToken: ct));
        }

        if (pruned > 0)
        {
            _counts.InvalidateAll();
        }

        return pruned;
    }
}
