using Dapper;
using Homeserver.Users;
using Npgsql;

namespace Homeserver.Storage.Users;

/// <summary>The <c>account_data</c> table: global items have <c>room_id = ''</c>; <c>stream_id</c> is a global stream position.</summary>
internal sealed class AccountDataRepository(NpgsqlDataSource db) : IAccountDataStore
{
    private const string SelectOne = "SELECT content FROM account_data WHERE user_id = @UserId AND room_id = @RoomId AND data_type = @Type";

    private const string Upsert = """
        INSERT INTO account_data (user_id, room_id, data_type, content, stream_id) VALUES (@UserId, @RoomId, @Type, @Content, @StreamId)
        ON CONFLICT (user_id, room_id, data_type) DO UPDATE SET content = EXCLUDED.content, stream_id = EXCLUDED.stream_id
        """;

    private const string SelectChanges = """
        SELECT room_id AS RoomId, data_type AS Type, content AS Content, stream_id AS StreamId
        FROM account_data WHERE user_id = @UserId AND stream_id > @From AND stream_id <= @To ORDER BY stream_id
        """;

    public async Task<string?> GetAsync(string userId, string roomId, string type, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(SelectOne, new { UserId = userId, RoomId = roomId, Type = type }, cancellationToken: ct));
    }

    public async Task SetAsync(string userId, string roomId, string type, string content, long streamId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(Upsert, new { UserId = userId, RoomId = roomId, Type = type, Content = content, StreamId = streamId }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<AccountDataChange>> GetChangesAsync(string userId, long fromExclusive, long toInclusive, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<AccountDataChange>(new CommandDefinition(SelectChanges, new { UserId = userId, From = fromExclusive, To = toInclusive }, cancellationToken: ct))).ToList();
    }
}
