using Dapper;
using Homeserver.Crypto.KeyRing;
using Npgsql;

namespace Homeserver.Storage.Federation;

/// <summary>The <c>server_keys</c> and <c>server_key_documents</c> tables.</summary>
internal sealed class ServerKeyRepository(NpgsqlDataSource db) : IServerKeyStore
{
    private const string SelectKeys = """
        SELECT server_name AS ServerName, key_id AS KeyId, public_key AS PublicKey, valid_until_ts AS ValidUntilTs, expired_ts AS ExpiredTs
        FROM server_keys WHERE server_name = @ServerName
        """;

    // A key's validity only ever grows: a later document may extend valid_until_ts, an older one never shortens it.
    private const string UpsertKey = """
        INSERT INTO server_keys (server_name, key_id, public_key, valid_until_ts, expired_ts, fetched_ts)
        VALUES (@ServerName, @KeyId, @PublicKey, @ValidUntilTs, @ExpiredTs, @FetchedTs)
        ON CONFLICT (server_name, key_id) DO UPDATE SET
            valid_until_ts = GREATEST(server_keys.valid_until_ts, EXCLUDED.valid_until_ts),
            expired_ts = COALESCE(EXCLUDED.expired_ts, server_keys.expired_ts),
            fetched_ts = EXCLUDED.fetched_ts
        WHERE server_keys.public_key = EXCLUDED.public_key
        """;

    private const string UpsertDocument = """
        INSERT INTO server_key_documents (server_name, json, valid_until_ts, fetched_ts) VALUES (@ServerName, @Json, @ValidUntilTs, @FetchedTs)
        ON CONFLICT (server_name) DO UPDATE SET json = EXCLUDED.json, valid_until_ts = EXCLUDED.valid_until_ts, fetched_ts = EXCLUDED.fetched_ts
        WHERE server_key_documents.valid_until_ts <= EXCLUDED.valid_until_ts
        """;

    private const string SelectDocument = "SELECT json AS Json, valid_until_ts AS ValidUntilTs FROM server_key_documents WHERE server_name = @ServerName";

    private sealed record DocumentRow(string Json, long ValidUntilTs);

    public async Task<IReadOnlyList<ServerVerifyKey>> GetKeysAsync(string serverName, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<ServerVerifyKey>(new CommandDefinition(SelectKeys, new { ServerName = serverName }, cancellationToken: ct))).ToList();
    }

    public async Task StoreAsync(string serverName, IReadOnlyList<ServerVerifyKey> keys, string documentJson, long validUntilTs, long fetchedTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        foreach (var k in keys)
        {
            await conn.ExecuteAsync(new CommandDefinition(UpsertKey, new { ServerName = serverName, k.KeyId, k.PublicKey, k.ValidUntilTs, k.ExpiredTs, FetchedTs = fetchedTs }, tx, cancellationToken: ct));
        }

        await conn.ExecuteAsync(new CommandDefinition(UpsertDocument, new { ServerName = serverName, Json = documentJson, ValidUntilTs = validUntilTs, FetchedTs = fetchedTs }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    public async Task<(string Json, long ValidUntilTs)?> GetDocumentAsync(string serverName, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<DocumentRow>(new CommandDefinition(SelectDocument, new { ServerName = serverName }, cancellationToken: ct));
        return row is null ? null : (row.Json, row.ValidUntilTs);
    }
}
