using Dapper;
using Homeserver.Users;
using Npgsql;

namespace Homeserver.Storage.Users;

/// <summary>The <c>devices</c> and <c>access_tokens</c> tables.</summary>
internal sealed class SessionRepository(NpgsqlDataSource db) : ISessionStore
{
    private const string UpsertDevice = """
        INSERT INTO devices (user_id, device_id, display_name, created_ts)
        VALUES (@UserId, @DeviceId, @DisplayName, @NowTs)
        ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = COALESCE(devices.display_name, EXCLUDED.display_name)
        """;

    private const string InsertToken = """
        INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_hash, refresh_expires_ts)
        VALUES (@AccessTokenHash, @UserId, @DeviceId, @NowTs, @ExpiresTs, @RefreshTokenHash, @RefreshExpiresTs)
        """;

    private const string SelectToken = """
        SELECT t.user_id AS UserId, t.device_id AS DeviceId, t.expires_ts AS ExpiresTs,
               u.is_guest AS IsGuest, u.is_admin AS IsAdmin, u.deactivated AS Deactivated
        FROM access_tokens t JOIN users u ON u.user_id = t.user_id
        WHERE t.token_hash = @Hash
        """;

    private const string DeleteToken = "DELETE FROM access_tokens WHERE token_hash = @Hash";

    private const string DeleteSomeDevices = "DELETE FROM devices WHERE user_id = @UserId AND device_id = ANY(@DeviceIds) RETURNING device_id";

    private const string DeleteAllDevices = "DELETE FROM devices WHERE user_id = @UserId RETURNING device_id";

    public async Task CreateSessionAsync(string userId, string deviceId, string? displayName, NewSession session, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(UpsertDevice, new { UserId = userId, DeviceId = deviceId, DisplayName = displayName, NowTs = nowTs }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(InsertToken, new
        {
            session.AccessTokenHash,
            UserId = userId,
            DeviceId = deviceId,
            NowTs = nowTs,
            session.ExpiresTs,
            session.RefreshTokenHash,
            session.RefreshExpiresTs,
        }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    public async Task<AccessTokenRecord?> FindAccessTokenAsync(byte[] tokenHash, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<AccessTokenRecord>(new CommandDefinition(SelectToken, new { Hash = tokenHash }, cancellationToken: ct));
    }

    public async Task DeleteAccessTokenAsync(byte[] tokenHash, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(DeleteToken, new { Hash = tokenHash }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<string>> DeleteDevicesAsync(string userId, IReadOnlyCollection<string>? deviceIds, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var deleted = deviceIds is null
            ? await conn.QueryAsync<string>(new CommandDefinition(DeleteAllDevices, new { UserId = userId }, cancellationToken: ct))
            : await conn.QueryAsync<string>(new CommandDefinition(DeleteSomeDevices, new { UserId = userId, DeviceIds = deviceIds.ToArray() }, cancellationToken: ct));
        return deleted.ToList();
    }
}
