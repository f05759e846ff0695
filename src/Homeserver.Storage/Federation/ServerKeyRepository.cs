using Dapper;
using Homeserver.Crypto.KeyRing;
using Npgsql;

namespace Homeserver.Storage.Federation;

/// <summary>The <c>server_keys</c> and <c>server_key_json</c> tables.</summary>
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
        INSERT INTO server_key_json (server_name, key_id, json, valid_until_ts, fetched_ts)
        VALUES (@ServerName, @KeyId, @Json, @ValidUntilTs, @FetchedTs)
        ON CONFLICT (server_name, key_id) DO UPDATE SET json = EXCLUDED.json, valid_until_ts = EXCLUDED.valid_until_ts, fetched_ts = EXCLUDED.fetched_ts
        WHERE server_key_json.valid_until_ts <= EXCLUDED.valid_until_ts
        """;

    private const string SelectDocuments = """
        SELECT key_id AS KeyId, json AS Json, valid_until_ts AS ValidUntilTs FROM server_key_json WHERE server_name = @ServerName ORDER BY key_id
        """;

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

        foreach (var keyId in keys.Select(k => k.KeyId).Distinct(StringComparer.Ordinal))
        {
            await conn.ExecuteAsync(new CommandDefinition(UpsertDocument, new { ServerName = serverName, KeyId = keyId, Json = documentJson, ValidUntilTs = validUntilTs, FetchedTs = fetchedTs }, tx, cancellationToken: ct));
        }

        await tx.CommitAsync(ct);
    }

    public async Task<IReadOnlyList<StoredKeyDocument>> GetDocumentsAsync(string serverName, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<StoredKeyDocument>(new CommandDefinition(SelectDocuments, new { ServerName = serverName }, cancellationToken: ct))).ToList();
    }
}
