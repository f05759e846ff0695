using Dapper;
using Homeserver.Users;
using Npgsql;

namespace Homeserver.Storage.Users;

/// <summary>
/// The <c>devices</c> and <c>access_tokens</c> tables. A row of <c>access_tokens</c> is one session: an access
/// token, optionally its refresh token, and (after /refresh) the session it replaced (<c>refreshed_from</c>).
/// </summary>
internal sealed class SessionRepository(NpgsqlDataSource db) : ISessionStore
{
    private const string UpsertDevice = """
        INSERT INTO devices (user_id, device_id, display_name, created_ts)
        VALUES (@UserId, @DeviceId, @DisplayName, @NowTs)
        ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = COALESCE(devices.display_name, EXCLUDED.display_name)
        """;

    private const string DeleteDeviceTokens = "DELETE FROM access_tokens WHERE user_id = @UserId AND device_id = @DeviceId";

    private const string InsertToken = """
        INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_hash, refresh_expires_ts, refreshed_from)
        VALUES (@AccessTokenHash, @UserId, @DeviceId, @NowTs, @ExpiresTs, @RefreshTokenHash, @RefreshExpiresTs, @RefreshedFrom)
        """;

    private const string SelectToken = """
        SELECT t.user_id AS UserId, t.device_id AS DeviceId, t.expires_ts AS ExpiresTs,
               u.is_guest AS IsGuest, u.is_admin AS IsAdmin, u.deactivated AS Deactivated, t.refreshed_from AS PredecessorHash
        FROM access_tokens t JOIN users u ON u.user_id = t.user_id
        WHERE t.token_hash = @Hash
        """;

    private const string SelectPredecessorForUpdate = "SELECT refreshed_from FROM access_tokens WHERE token_hash = @Hash FOR UPDATE";

    private const string ClearPredecessor = "UPDATE access_tokens SET refreshed_from = NULL WHERE token_hash = @Hash";

    private const string DeleteTokenReturning = "DELETE FROM access_tokens WHERE token_hash = @Hash RETURNING token_hash";

    private const string SelectByRefreshForUpdate = """
        SELECT token_hash AS TokenHash, user_id AS UserId, device_id AS DeviceId, refresh_expires_ts AS RefreshExpiresTs, refreshed_from AS RefreshedFrom
        FROM access_tokens WHERE refresh_token_hash = @Hash FOR UPDATE
        """;

    private const string DeleteSuccessors = "DELETE FROM access_tokens WHERE refreshed_from = @Hash RETURNING token_hash";

    private const string DeleteToken = "DELETE FROM access_tokens WHERE token_hash = @Hash";

    private const string DeleteSomeDevices = """
        DELETE FROM devices WHERE user_id = @UserId AND device_id = ANY(@DeviceIds) AND device_id IS DISTINCT FROM @Except RETURNING device_id
        """;

    private const string DeleteAllDevices = "DELETE FROM devices WHERE user_id = @UserId AND device_id IS DISTINCT FROM @Except RETURNING device_id";

    private const string DeviceColumns = """
        user_id AS UserId, device_id AS DeviceId, display_name AS DisplayName,
        last_seen_ts AS LastSeenTs, last_seen_ip AS LastSeenIp, last_seen_user_agent AS LastSeenUserAgent
        """;

    private const string SelectDevices = $"SELECT {DeviceColumns} FROM devices WHERE user_id = @UserId ORDER BY device_id";

    private const string SelectDevice = $"SELECT {DeviceColumns} FROM devices WHERE user_id = @UserId AND device_id = @DeviceId";

    private const string UpdateDisplayName = "UPDATE devices SET display_name = @DisplayName WHERE user_id = @UserId AND device_id = @DeviceId";

    // Only moves forward: a late flush never overwrites newer data.
    private const string UpdateLastSeen = """
        UPDATE devices d SET last_seen_ts = v.ts, last_seen_ip = v.ip, last_seen_user_agent = v.ua
        FROM unnest(@UserIds, @DeviceIds, @Ips, @Agents, @Timestamps) AS v(user_id, device_id, ip, ua, ts)
        WHERE d.user_id = v.user_id AND d.device_id = v.device_id AND (d.last_seen_ts IS NULL OR d.last_seen_ts < v.ts)
        """;

    private sealed record RefreshRow(byte[] TokenHash, string UserId, string DeviceId, long? RefreshExpiresTs, byte[]? RefreshedFrom);

    public async Task CreateSessionAsync(string userId, string deviceId, string? displayName, NewSession session, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(UpsertDevice, new { UserId = userId, DeviceId = deviceId, DisplayName = displayName, NowTs = nowTs }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(DeleteDeviceTokens, new { UserId = userId, DeviceId = deviceId }, tx, cancellationToken: ct));
        await InsertAsync(conn, tx, userId, deviceId, session, nowTs, null, ct);
        await tx.CommitAsync(ct);
    }

    public async Task<AccessTokenRecord?> FindAccessTokenAsync(byte[] tokenHash, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<AccessTokenRecord>(new CommandDefinition(SelectToken, new { Hash = tokenHash }, cancellationToken: ct));
    }

    public async Task<byte[]?> RetirePredecessorAsync(byte[] tokenHash, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var predecessor = await conn.QuerySingleOrDefaultAsync<byte[]?>(new CommandDefinition(SelectPredecessorForUpdate, new { Hash = tokenHash }, tx, cancellationToken: ct));
        byte[]? revoked = null;
        if (predecessor is not null)
        {
            revoked = await conn.QuerySingleOrDefaultAsync<byte[]?>(new CommandDefinition(DeleteTokenReturning, new { Hash = predecessor }, tx, cancellationToken: ct));
            await conn.ExecuteAsync(new CommandDefinition(ClearPredecessor, new { Hash = tokenHash }, tx, cancellationToken: ct));
        }

        await tx.CommitAsync(ct);
        return revoked;
    }

    public async Task<RefreshResult> RotateRefreshTokenAsync(byte[] refreshTokenHash, NewSession next, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<RefreshRow>(new CommandDefinition(SelectByRefreshForUpdate, new { Hash = refreshTokenHash }, tx, cancellationToken: ct));
        if (row is null)
        {
            return new RefreshResult(RefreshOutcome.Unknown, null, null, []);
        }

        if (row.RefreshExpiresTs is { } expires && expires <= nowTs)
        {
            return new RefreshResult(RefreshOutcome.Expired, row.UserId, row.DeviceId, []);
        }

        // An unused earlier successor of this refresh token is replaced by the new one.
        var revoked = (await conn.QueryAsync<byte[]>(new CommandDefinition(DeleteSuccessors, new { Hash = row.TokenHash }, tx, cancellationToken: ct))).ToList();

        // Using this refresh token spends the session it came from.
        if (row.RefreshedFrom is not null)
        {
            revoked.AddRange(await conn.QueryAsync<byte[]>(new CommandDefinition(DeleteTokenReturning, new { Hash = row.RefreshedFrom }, tx, cancellationToken: ct)));
            await conn.ExecuteAsync(new CommandDefinition(ClearPredecessor, new { Hash = row.TokenHash }, tx, cancellationToken: ct));
        }

        await InsertAsync(conn, tx, row.UserId, row.DeviceId, next, nowTs, row.TokenHash, ct);
        await tx.CommitAsync(ct);
        return new RefreshResult(RefreshOutcome.Refreshed, row.UserId, row.DeviceId, revoked);
    }

    public async Task DeleteAccessTokenAsync(byte[] tokenHash, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(DeleteToken, new { Hash = tokenHash }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<string>> DeleteDevicesAsync(string userId, IReadOnlyCollection<string>? deviceIds, string? exceptDeviceId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var deleted = deviceIds is null
            ? await conn.QueryAsync<string>(new CommandDefinition(DeleteAllDevices, new { UserId = userId, Except = exceptDeviceId }, cancellationToken: ct))
            : await conn.QueryAsync<string>(new CommandDefinition(DeleteSomeDevices, new { UserId = userId, DeviceIds = deviceIds.ToArray(), Except = exceptDeviceId }, cancellationToken: ct));
        return deleted.ToList();
    }

    public async Task<IReadOnlyList<DeviceRecord>> ListDevicesAsync(string userId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<DeviceRecord>(new CommandDefinition(SelectDevices, new { UserId = userId }, cancellationToken: ct))).ToList();
    }

    public async Task<DeviceRecord?> GetDeviceAsync(string userId, string deviceId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<DeviceRecord>(new CommandDefinition(SelectDevice, new { UserId = userId, DeviceId = deviceId }, cancellationToken: ct));
    }

    public async Task<bool> SetDeviceDisplayNameAsync(string userId, string deviceId, string? displayName, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(UpdateDisplayName, new { UserId = userId, DeviceId = deviceId, DisplayName = displayName }, cancellationToken: ct)) == 1;
    }

    public async Task UpdateLastSeenAsync(IReadOnlyList<LastSeen> batch, CancellationToken ct)
    {
        if (batch.Count == 0)
        {
            return;
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(UpdateLastSeen, new
        {
            UserIds = batch.Select(b => b.UserId).ToArray(),
            DeviceIds = batch.Select(b => b.DeviceId).ToArray(),
            Ips = batch.Select(b => b.Ip).ToArray(),
            Agents = batch.Select(b => b.UserAgent).ToArray(),
            Timestamps = batch.Select(b => b.Ts).ToArray(),
        }, cancellationToken: ct));
    }

    private static Task InsertAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string userId, string deviceId, NewSession session, long nowTs, byte[]? refreshedFrom, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition(InsertToken, new
        {
            session.AccessTokenHash,
            UserId = userId,
            DeviceId = deviceId,
            NowTs = nowTs,
            session.ExpiresTs,
            session.RefreshTokenHash,
            session.RefreshExpiresTs,
            RefreshedFrom = refreshedFrom,
        }, tx, cancellationToken: ct));
}
