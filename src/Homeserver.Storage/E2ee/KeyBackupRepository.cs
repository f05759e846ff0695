using Dapper;
using Homeserver.E2ee;
using Npgsql;

namespace Homeserver.Storage.E2ee;

/// <summary>
/// Tables <c>e2e_room_keys_versions</c> and <c>e2e_room_keys</c>. Every write to a user's backup takes a
/// transaction-scoped advisory lock on the user, so a new version and an upload to the old one cannot interleave.
/// </summary>
internal sealed class KeyBackupRepository(NpgsqlDataSource db) : IKeyBackupStore
{
    private const string LockUser = "SELECT pg_advisory_xact_lock(hashtextextended('e2e_room_keys:' || @UserId, 0))";

    private const string InsertVersion = """
        INSERT INTO e2e_room_keys_versions (user_id, version, algorithm, auth_data)
        SELECT @UserId, COALESCE(max(version), 0) + 1, @Algorithm, @AuthData FROM e2e_room_keys_versions WHERE user_id = @UserId
        RETURNING version
        """;

    private const string VersionColumns = "version AS Version, algorithm AS Algorithm, auth_data AS AuthDataJson, etag AS Etag, deleted AS Deleted";

    private const string SelectVersion = $"SELECT {VersionColumns} FROM e2e_room_keys_versions WHERE user_id = @UserId AND version = @Version";

    private const string SelectCurrentVersion =
        $"SELECT {VersionColumns} FROM e2e_room_keys_versions WHERE user_id = @UserId AND NOT deleted ORDER BY version DESC LIMIT 1";

    private const string UpdateAuthData =
        "UPDATE e2e_room_keys_versions SET auth_data = @AuthData WHERE user_id = @UserId AND version = @Version AND NOT deleted";

    private const string MarkDeleted = """
        UPDATE e2e_room_keys_versions SET deleted = true WHERE user_id = @UserId AND version = @Version RETURNING version
        """;

    private const string DeleteAllKeys = "DELETE FROM e2e_room_keys WHERE user_id = @UserId AND version = @Version";

    private const string CountKeys = "SELECT count(*) FROM e2e_room_keys WHERE user_id = @UserId AND version = @Version";

    private const string KeyColumns = """
        room_id AS RoomId, session_id AS SessionId, first_message_index AS FirstMessageIndex, forwarded_count AS ForwardedCount,
        is_verified AS IsVerified, session_data AS SessionDataJson
        """;

    private const string SelectKeys = $"""
        SELECT {KeyColumns} FROM e2e_room_keys
        WHERE user_id = @UserId AND version = @Version
          AND (@RoomId::text IS NULL OR room_id = @RoomId) AND (@SessionId::text IS NULL OR session_id = @SessionId)
        ORDER BY room_id, session_id
        """;

    private const string SelectKeysForUpdate = $"""
        SELECT {KeyColumns} FROM e2e_room_keys
        WHERE user_id = @UserId AND version = @Version
          AND (room_id, session_id) IN (SELECT r, s FROM unnest(@RoomIds::text[], @SessionIds::text[]) AS t (r, s))
        FOR UPDATE
        """;

    private const string UpsertKeys = """
        INSERT INTO e2e_room_keys (user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data)
        SELECT @UserId, @Version, r, s, f, c, v, d
        FROM unnest(@RoomIds::text[], @SessionIds::text[], @FirstIndexes::bigint[], @ForwardedCounts::bigint[], @Verified::boolean[], @Data::text[])
            AS t (r, s, f, c, v, d)
        ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
            first_message_index = EXCLUDED.first_message_index, forwarded_count = EXCLUDED.forwarded_count,
            is_verified = EXCLUDED.is_verified, session_data = EXCLUDED.session_data
        """;

    private const string DeleteKeys = """
        DELETE FROM e2e_room_keys
        WHERE user_id = @UserId AND version = @Version
          AND (@RoomId::text IS NULL OR room_id = @RoomId) AND (@SessionId::text IS NULL OR session_id = @SessionId)
        """;

    private const string BumpEtag = "UPDATE e2e_room_keys_versions SET etag = etag + 1 WHERE user_id = @UserId AND version = @Version RETURNING etag";

    public async Task<long> CreateVersionAsync(string userId, string algorithm, string authDataJson, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(LockUser, new { UserId = userId }, tx, cancellationToken: ct));
        var version = await conn.ExecuteScalarAsync<long>(new CommandDefinition(InsertVersion, new { UserId = userId, Algorithm = algorithm, AuthData = authDataJson }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return version;
    }

    public async Task<BackupVersion?> GetVersionAsync(string userId, long? version, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var command = version is { } v
            ? new CommandDefinition(SelectVersion, new { UserId = userId, Version = v }, cancellationToken: ct)
            : new CommandDefinition(SelectCurrentVersion, new { UserId = userId }, cancellationToken: ct);
        return await conn.QuerySingleOrDefaultAsync<BackupVersion>(command);
    }

    public async Task<bool> UpdateAuthDataAsync(string userId, long version, string authDataJson, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(UpdateAuthData, new { UserId = userId, Version = version, AuthData = authDataJson }, cancellationToken: ct)) > 0;
    }

    public async Task<bool?> DeleteVersionAsync(string userId, long version, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var args = new { UserId = userId, Version = version };
        await conn.ExecuteAsync(new CommandDefinition(LockUser, args, tx, cancellationToken: ct));
        if (await conn.ExecuteScalarAsync<long?>(new CommandDefinition(MarkDeleted, args, tx, cancellationToken: ct)) is null)
        {
            return null;
        }

        await conn.ExecuteAsync(new CommandDefinition(DeleteAllKeys, args, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return true;
    }

    public async Task<long> CountKeysAsync(string userId, long version, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<long>(new CommandDefinition(CountKeys, new { UserId = userId, Version = version }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<RoomKeyBackup>> GetKeysAsync(string userId, long version, string? roomId, string? sessionId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<RoomKeyBackup>(new CommandDefinition(
            SelectKeys, new { UserId = userId, Version = version, RoomId = roomId, SessionId = sessionId }, cancellationToken: ct))).ToList();
    }

    public async Task<BackupUploadOutcome> UploadAsync(
        string userId, long version, IReadOnlyList<RoomKeyBackup> keys, Func<RoomKeyBackup, RoomKeyBackup, bool> shouldReplace, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var args = new { UserId = userId, Version = version };
        await conn.ExecuteAsync(new CommandDefinition(LockUser, args, tx, cancellationToken: ct));
        var current = await conn.QuerySingleOrDefaultAsync<BackupVersion>(new CommandDefinition(SelectCurrentVersion, args, tx, cancellationToken: ct));
        if (current is null)
        {
            return new BackupUploadOutcome(null, null);
        }

        if (current.Version != version)
        {
            var asked = await conn.QuerySingleOrDefaultAsync<BackupVersion>(new CommandDefinition(SelectVersion, args, tx, cancellationToken: ct));
            return new BackupUploadOutcome(null, asked is null ? null : current.Version);
        }

        var stored = (await conn.QueryAsync<RoomKeyBackup>(new CommandDefinition(SelectKeysForUpdate, new
        {
            UserId = userId,
            Version = version,
            RoomIds = keys.Select(k => k.RoomId).ToArray(),
            SessionIds = keys.Select(k => k.SessionId).ToArray(),
        }, tx, cancellationToken: ct))).ToDictionary(k => (k.RoomId, k.SessionId));

        // The same session may come twice in one request: the rules pick between them as between stored and uploaded.
        var changed = new Dictionary<(string, string), RoomKeyBackup>();
        foreach (var key in keys)
        {
            var id = (key.RoomId, key.SessionId);
            var existing = changed.GetValueOrDefault(id) ?? stored.GetValueOrDefault(id);
            if (existing is null || shouldReplace(existing, key))
            {
                changed[id] = key;
            }
        }

        var etag = current.Etag;
        if (changed.Count > 0)
        {
            var rows = changed.Values.ToList();
            await conn.ExecuteAsync(new CommandDefinition(UpsertKeys, new
            {
                UserId = userId,
                Version = version,
                RoomIds = rows.Select(k => k.RoomId).ToArray(),
                SessionIds = rows.Select(k => k.SessionId).ToArray(),
                FirstIndexes = rows.Select(k => k.FirstMessageIndex).ToArray(),
                ForwardedCounts = rows.Select(k => k.ForwardedCount).ToArray(),
                Verified = rows.Select(k => k.IsVerified).ToArray(),
                Data = rows.Select(k => k.SessionDataJson).ToArray(),
            }, tx, cancellationToken: ct));
            etag = await conn.ExecuteScalarAsync<long>(new CommandDefinition(BumpEtag, args, tx, cancellationToken: ct));
        }

        var count = await conn.ExecuteScalarAsync<long>(new CommandDefinition(CountKeys, args, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return new BackupUploadOutcome(new BackupCounts(etag, count), current.Version);
    }

    public async Task<BackupCounts?> DeleteKeysAsync(string userId, long version, string? roomId, string? sessionId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var args = new { UserId = userId, Version = version, RoomId = roomId, SessionId = sessionId };
        await conn.ExecuteAsync(new CommandDefinition(LockUser, args, tx, cancellationToken: ct));
        var info = await conn.QuerySingleOrDefaultAsync<BackupVersion>(new CommandDefinition(SelectVersion, args, tx, cancellationToken: ct));
        if (info is null || info.Deleted)
        {
            return null;
        }

        await conn.ExecuteAsync(new CommandDefinition(DeleteKeys, args, tx, cancellationToken: ct));
        var etag = await conn.ExecuteScalarAsync<long>(new CommandDefinition(BumpEtag, args, tx, cancellationToken: ct));
        var count = await conn.ExecuteScalarAsync<long>(new CommandDefinition(CountKeys, args, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return new BackupCounts(etag, count);
    }
}
