using Dapper;
using Homeserver.Sync;
using Npgsql;

namespace Homeserver.Storage.Sync;

/// <summary>Sync's reads of the <c>account_data</c> table by stream position.</summary>
internal sealed class SyncDataRepository(NpgsqlDataSource db) : ISyncDataStore
{
    private const string SelectAccountData = """
        SELECT room_id AS RoomId, data_type AS Type, content AS Content, stream_id AS StreamId
        FROM account_data
        WHERE user_id = @UserId AND stream_id > @After AND stream_id <= @UpTo
        ORDER BY stream_id
        """;

    private const string SelectGlobal = "SELECT content FROM account_data WHERE user_id = @UserId AND room_id = '' AND data_type = @Type";

    public async Task<string?> GetGlobalAccountDataAsync(string userId, string type, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(SelectGlobal, new { UserId = userId, Type = type }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<AccountDataEntry>> GetAccountDataAsync(string userId, long afterStream, long upToStream, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<AccountDataEntry>(new CommandDefinition(SelectAccountData, new { UserId = userId, After = afterStream, UpTo = upToStream }, cancellationToken: ct))).ToList();
    }
}
