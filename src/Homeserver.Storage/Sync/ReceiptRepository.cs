using Dapper;
using Homeserver.Sync.Receipts;
using Npgsql;

namespace Homeserver.Storage.Sync;

/// <summary>The <c>receipts</c> table (see migration 0003): one row per (room, type, user, thread), moved forward only.</summary>
internal sealed class ReceiptRepository(NpgsqlDataSource db) : IReceiptStore
{
    // The upsert leaves an existing receipt on a later (or the same) event alone; RETURNING says whether it wrote.
    private const string Upsert = """
        INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, event_stream, ts, stream_id)
        VALUES (@RoomId, @ReceiptType, @UserId, @ThreadId, @EventId, @EventStream, @Ts, @StreamId)
        ON CONFLICT (room_id, receipt_type, user_id, thread_id) DO UPDATE
            SET event_id = EXCLUDED.event_id, event_stream = EXCLUDED.event_stream, ts = EXCLUDED.ts, stream_id = EXCLUDED.stream_id
            WHERE receipts.event_stream < EXCLUDED.event_stream
        RETURNING stream_id
        """;

    private const string Columns = """
        room_id AS RoomId, receipt_type AS ReceiptType, user_id AS UserId, thread_id AS ThreadId, event_id AS EventId, ts AS Ts, stream_id AS StreamId
        """;

    private const string SelectByRooms = $"""
        SELECT {Columns} FROM receipts
        WHERE room_id = ANY(@Rooms) AND stream_id > @After AND stream_id <= @UpTo
          AND (receipt_type <> 'm.read.private' OR user_id = @Viewer)
        ORDER BY stream_id
        """;

    private const string SelectForEvents = $"""
        SELECT {Columns} FROM receipts
        WHERE room_id = ANY(@Rooms) AND stream_id <= @UpTo
          AND (event_id = ANY(@Events) OR user_id = @Viewer)
          AND (receipt_type <> 'm.read.private' OR user_id = @Viewer)
        ORDER BY stream_id
        """;


    public async Task<bool> UpsertAsync(Receipt receipt, long eventStreamOrdering, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var written = await conn.ExecuteScalarAsync<long?>(new CommandDefinition(Upsert, new
        {
            receipt.RoomId,
            receipt.ReceiptType,
            receipt.UserId,
            receipt.ThreadId,
            receipt.EventId,
            EventStream = eventStreamOrdering,
            receipt.Ts,
            receipt.StreamId,
        }, cancellationToken: ct));
        return written is not null;
    }

    public async Task<IReadOnlyList<Receipt>> GetReceiptsAsync(IReadOnlyCollection<string> roomIds, long afterStream, long upToStream, string viewerUserId, CancellationToken ct)
    {
        if (roomIds.Count == 0 || upToStream <= afterStream)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        var args = new { Rooms = roomIds.ToArray(), After = afterStream, UpTo = upToStream, Viewer = viewerUserId };
        return (await conn.QueryAsync<Receipt>(new CommandDefinition(SelectByRooms, args, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyList<Receipt>> GetReceiptsForEventsAsync(
        IReadOnlyCollection<string> roomIds, IReadOnlyCollection<string> eventIds, long upToStream, string viewerUserId, CancellationToken ct)
    {
        if (roomIds.Count == 0)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        var args = new { Rooms = roomIds.ToArray(), Events = eventIds.ToArray(), UpTo = upToStream, Viewer = viewerUserId };
        return (await conn.QueryAsync<Receipt>(new CommandDefinition(SelectForEvents, args, cancellationToken: ct))).ToList();
    }
}
