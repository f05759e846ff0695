using Dapper;
using Homeserver.E2ee;
using Npgsql;

namespace Homeserver.Storage.E2ee;

/// <summary>
/// Tables <c>e2e_device_keys</c>, <c>e2e_one_time_keys</c> and <c>e2e_fallback_keys</c>. One-time keys are claimed
/// with <c>FOR UPDATE SKIP LOCKED</c> and deleted by the claiming statement, so concurrent claims never share a key.
/// </summary>
internal sealed class DeviceKeyRepository(NpgsqlDataSource db) : IDeviceKeyStore
{
    private const string SelectDeviceKeys = """
        SELECT k.user_id AS UserId, k.device_id AS DeviceId, k.key_json AS KeyJson, d.display_name AS DisplayName
        FROM e2e_device_keys k JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
        WHERE k.user_id = @UserId AND k.device_id = @DeviceId
        """;

    private const string SelectDeviceKeysForUsers = """
        SELECT k.user_id AS UserId, k.device_id AS DeviceId, k.key_json AS KeyJson, d.display_name AS DisplayName
        FROM e2e_device_keys k JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
        WHERE k.user_id = ANY(@UserIds)
        ORDER BY k.user_id, k.device_id
        """;

    private const string SelectOneTimeKeys = """
        SELECT algorithm || ':' || key_id AS Id, key_json AS Json
        FROM e2e_one_time_keys
        WHERE user_id = @UserId AND device_id = @DeviceId
          AND (algorithm, key_id) IN (SELECT a, i FROM unnest(@Algorithms::text[], @KeyIds::text[]) AS t (a, i))
        """;

    private const string UpsertDeviceKeys = """
        INSERT INTO e2e_device_keys (user_id, device_id, key_json, updated_ts) VALUES (@UserId, @DeviceId, @KeyJson, @NowTs)
        ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = EXCLUDED.key_json, updated_ts = EXCLUDED.updated_ts
        """;

    private const string DeleteDeviceSignatures =
        "DELETE FROM e2e_cross_signing_signatures WHERE target_user_id = @UserId AND target_key_id = @DeviceId";

    private const string InsertOneTimeKeys = """
        INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json)
        SELECT @UserId, @DeviceId, a, i, j FROM unnest(@Algorithms::text[], @KeyIds::text[], @Jsons::text[]) WITH ORDINALITY AS t (a, i, j, n)
        ORDER BY n
        ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING
        """;

    // A re-upload of the very same fallback key keeps its "used" flag; a new key starts unused.
    private const string UpsertFallbackKeys = """
        INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)
        SELECT @UserId, @DeviceId, a, i, j, false FROM unnest(@Algorithms::text[], @KeyIds::text[], @Jsons::text[]) AS t (a, i, j)
        ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET
            key_id = EXCLUDED.key_id,
            key_json = EXCLUDED.key_json,
            used = CASE WHEN e2e_fallback_keys.key_id = EXCLUDED.key_id AND e2e_fallback_keys.key_json = EXCLUDED.key_json
                        THEN e2e_fallback_keys.used ELSE false END
        """;

    private const string CountOneTimeKeys = """
        SELECT algorithm AS Algorithm, count(*)::int AS Count FROM e2e_one_time_keys
        WHERE user_id = @UserId AND device_id = @DeviceId GROUP BY algorithm
        """;

    private const string SelectUnusedFallbackAlgorithms = """
        SELECT algorithm FROM e2e_fallback_keys WHERE user_id = @UserId AND device_id = @DeviceId AND NOT used ORDER BY algorithm
        """;

    // The subquery locks the oldest unlocked key; a concurrent claim skips it and takes the next (or none).
    private const string ClaimOneTimeKey = """
        DELETE FROM e2e_one_time_keys
        WHERE (user_id, device_id, algorithm, key_id) = (
            SELECT user_id, device_id, algorithm, key_id FROM e2e_one_time_keys
            WHERE user_id = @UserId AND device_id = @DeviceId AND algorithm = @Algorithm
            ORDER BY upload_seq LIMIT 1
            FOR UPDATE SKIP LOCKED)
        RETURNING key_id AS KeyId, key_json AS KeyJson
        """;

    private const string ClaimFallbackKey = """
        UPDATE e2e_fallback_keys SET used = true
        WHERE user_id = @UserId AND device_id = @DeviceId AND algorithm = @Algorithm
        RETURNING key_id AS KeyId, key_json AS KeyJson
        """;

    private const string SelectDeviceIds = "SELECT device_id FROM devices WHERE user_id = @UserId ORDER BY device_id";

    private sealed record KeyRow(string KeyId, string KeyJson);

    private sealed record IdJson(string Id, string Json);

    private sealed record CountRow(string Algorithm, int Count);

    public async Task<StoredDeviceKeys?> GetDeviceKeysAsync(string userId, string deviceId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<StoredDeviceKeys>(new CommandDefinition(SelectDeviceKeys, new { UserId = userId, DeviceId = deviceId }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<StoredDeviceKeys>> GetDeviceKeysForUsersAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        if (userIds.Count == 0)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<StoredDeviceKeys>(new CommandDefinition(SelectDeviceKeysForUsers, new { UserIds = userIds.ToArray() }, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyDictionary<string, string>> GetOneTimeKeysAsync(string userId, string deviceId, IReadOnlyCollection<UploadedKey> keys, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<IdJson>(new CommandDefinition(SelectOneTimeKeys, new
        {
            UserId = userId,
            DeviceId = deviceId,
            Algorithms = keys.Select(k => k.Algorithm).ToArray(),
            KeyIds = keys.Select(k => k.KeyId).ToArray(),
        }, cancellationToken: ct));
        return rows.ToDictionary(r => r.Id, r => r.Json, StringComparer.Ordinal);
    }

    public async Task<bool> SaveAsync(KeyUploadWrite write, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var ids = new { write.UserId, write.DeviceId };
        try
        {
            if (write.DeviceKeys is { } deviceKeys)
            {
                await conn.ExecuteAsync(new CommandDefinition(UpsertDeviceKeys, new { write.UserId, write.DeviceId, deviceKeys.KeyJson, write.NowTs }, tx, cancellationToken: ct));
                if (deviceKeys.SignedPartChanged)
                {
                    // Signatures of the old keys do not verify against the new ones.
                    await conn.ExecuteAsync(new CommandDefinition(DeleteDeviceSignatures, ids, tx, cancellationToken: ct));
                }
            }

            if (write.OneTimeKeys.Count > 0)
            {
                await conn.ExecuteAsync(new CommandDefinition(InsertOneTimeKeys, KeyArrays(write.UserId, write.DeviceId, write.OneTimeKeys), tx, cancellationToken: ct));
            }

            if (write.FallbackKeys.Count > 0)
            {
                await conn.ExecuteAsync(new CommandDefinition(UpsertFallbackKeys, KeyArrays(write.UserId, write.DeviceId, write.FallbackKeys), tx, cancellationToken: ct));
            }

            if (write.StreamId is { } streamId)
            {
                await DeviceListRepository.InsertChangesAsync(conn, tx, streamId, [new DeviceListChange(write.UserId)], write.NowTs, ct);
            }

            await tx.CommitAsync(ct);
            return true;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ForeignKeyViolation)
        {
            return false; // the device was deleted meanwhile
        }
    }

    public async Task<IReadOnlyDictionary<string, int>> CountOneTimeKeysAsync(string userId, string deviceId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<CountRow>(new CommandDefinition(CountOneTimeKeys, new { UserId = userId, DeviceId = deviceId }, cancellationToken: ct));
        return rows.ToDictionary(r => r.Algorithm, r => r.Count, StringComparer.Ordinal);
    }

    public async Task<IReadOnlyList<string>> GetUnusedFallbackKeyAlgorithmsAsync(string userId, string deviceId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<string>(new CommandDefinition(SelectUnusedFallbackAlgorithms, new { UserId = userId, DeviceId = deviceId }, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyList<ClaimedKey>> ClaimAsync(IReadOnlyList<ClaimRequest> requests, CancellationToken ct)
    {
        var result = new List<ClaimedKey>();
        await using var conn = await db.OpenConnectionAsync(ct);

        // Each claim is one statement (atomic on its own); a fixed order keeps concurrent claimers from deadlocking on fallback rows.
        foreach (var r in requests.OrderBy(r => r.UserId, StringComparer.Ordinal).ThenBy(r => r.DeviceId, StringComparer.Ordinal).ThenBy(r => r.Algorithm, StringComparer.Ordinal))
        {
            var args = new { r.UserId, r.DeviceId, r.Algorithm };
            var key = await conn.QuerySingleOrDefaultAsync<KeyRow>(new CommandDefinition(ClaimOneTimeKey, args, cancellationToken: ct))
                ?? await conn.QuerySingleOrDefaultAsync<KeyRow>(new CommandDefinition(ClaimFallbackKey, args, cancellationToken: ct));
            if (key is not null)
            {
                result.Add(new ClaimedKey(r.UserId, r.DeviceId, r.Algorithm, key.KeyId, key.KeyJson));
            }
        }

        return result;
    }

    public async Task<IReadOnlyList<string>> GetDeviceIdsAsync(string userId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<string>(new CommandDefinition(SelectDeviceIds, new { UserId = userId }, cancellationToken: ct))).ToList();
    }

    private static object KeyArrays(string userId, string deviceId, IReadOnlyList<UploadedKey> keys) => new
    {
        UserId = userId,
        DeviceId = deviceId,
        Algorithms = keys.Select(k => k.Algorithm).ToArray(),
        KeyIds = keys.Select(k => k.KeyId).ToArray(),
        Jsons = keys.Select(k => k.KeyJson).ToArray(),
    };
}
