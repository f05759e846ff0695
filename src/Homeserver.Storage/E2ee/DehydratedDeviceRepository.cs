using Dapper;
using Homeserver.E2ee;
using Npgsql;

namespace Homeserver.Storage.E2ee;

/// <summary>
/// Table <c>e2e_dehydrated_devices</c>. A dehydrated device is also a row of <c>devices</c> (without access tokens):
/// it must receive to-device messages ("*" included) and be listed by /keys/query like any device. Deleting that row
/// deletes its keys, inbox and dehydrated-device row through ON DELETE CASCADE.
/// </summary>
internal sealed class DehydratedDeviceRepository(NpgsqlDataSource db) : IDehydratedDeviceStore
{
    private const string LockUser = "SELECT pg_advisory_xact_lock(hashtextextended('e2e_dehydrated_device:' || @UserId, 0))";

    private const string SelectDevice = "SELECT device_id AS DeviceId, device_data AS DeviceDataJson FROM e2e_dehydrated_devices WHERE user_id = @UserId";

    private const string DeviceExists = "SELECT EXISTS (SELECT 1 FROM devices WHERE user_id = @UserId AND device_id = @DeviceId)";

    private const string DeleteDevice = "DELETE FROM devices WHERE user_id = @UserId AND device_id = @DeviceId";

    private const string InsertDevice = """
        INSERT INTO devices (user_id, device_id, display_name, created_ts) VALUES (@UserId, @DeviceId, @DisplayName, @NowTs)
        """;

    private const string InsertDehydrated = """
        INSERT INTO e2e_dehydrated_devices (user_id, device_id, device_data, created_ts) VALUES (@UserId, @DeviceId, @DeviceData, @NowTs)
        """;

    public async Task<DehydratedDevice?> GetAsync(string userId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<DehydratedDevice>(new CommandDefinition(SelectDevice, new { UserId = userId }, cancellationToken: ct));
    }

    public async Task<DehydratedDeviceReplaced> ReplaceAsync(string userId, string deviceId, string deviceDataJson, string? displayName, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var args = new { UserId = userId, DeviceId = deviceId, DeviceData = deviceDataJson, DisplayName = displayName, NowTs = nowTs };
        await conn.ExecuteAsync(new CommandDefinition(LockUser, args, tx, cancellationToken: ct));
        var old = await conn.QuerySingleOrDefaultAsync<DehydratedDevice>(new CommandDefinition(SelectDevice, args, tx, cancellationToken: ct));
        if (old?.DeviceId != deviceId && await conn.ExecuteScalarAsync<bool>(new CommandDefinition(DeviceExists, args, tx, cancellationToken: ct)))
        {
            return new DehydratedDeviceReplaced(DeviceIdInUse: true, ReplacedDeviceId: null);
        }

        if (old is not null)
        {
            await conn.ExecuteAsync(new CommandDefinition(DeleteDevice, new { UserId = userId, old.DeviceId }, tx, cancellationToken: ct));
        }

        await conn.ExecuteAsync(new CommandDefinition(InsertDevice, args, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(InsertDehydrated, args, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return new DehydratedDeviceReplaced(DeviceIdInUse: false, ReplacedDeviceId: old?.DeviceId);
    }

    public async Task<string?> DeleteAsync(string userId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(LockUser, new { UserId = userId }, tx, cancellationToken: ct));
        var old = await conn.QuerySingleOrDefaultAsync<DehydratedDevice>(new CommandDefinition(SelectDevice, new { UserId = userId }, tx, cancellationToken: ct));
        if (old is null)
        {
            return null;
        }

        await conn.ExecuteAsync(new CommandDefinition(DeleteDevice, new { UserId = userId, old.DeviceId }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return old.DeviceId;
    }
}
