using Dapper;
using Homeserver.Sync.Receipts;
using Npgsql;

namespace Homeserver.Storage.Sync;

/// <summary>Room account data entries written by the read-markers API (table <c>account_data</c>, see migration 0001).</summary>
internal sealed class ReadMarkerRepository(NpgsqlDataSource db) : IReadMarkerStore
{
    private const string Select = "SELECT content FROM account_data WHERE user_id = @UserId AND room_id = @RoomId AND data_type = @Type";

    private const string Upsert = """
        INSERT INTO account_data (user_id, room_id, data_type, content, stream_id) VALUES (@UserId, @RoomId, @Type, @Content, @StreamId)
        ON CONFLICT (user_id, room_id, data_type) DO UPDATE SET content = EXCLUDED.content, stream_id = EXCLUDED.stream_id
        """;

    public async Task<string?> GetRoomAccountDataAsync(string userId, string roomId, string type, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(Select, new { UserId = userId, RoomId = roomId, Type = type }, cancellationToken: ct));
    }

    public async Task SetRoomAccountDataAsync(string userId, string roomId, string type, string content, long streamId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(Upsert, new { UserId = userId, RoomId = roomId, Type = type, Content = content, StreamId = streamId }, cancellationToken: ct));
    }
}
