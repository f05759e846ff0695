using Dapper;
using Homeserver.Core.Federation;
using Npgsql;

namespace Homeserver.Storage.Federation;

/// <summary>
/// Tables <c>e2e_remote_device_lists</c> and <c>e2e_remote_devices</c>, remote users' rows of
/// <c>e2e_cross_signing_keys</c>, and the reads of <c>room_memberships</c> that say which servers and users share a
/// room with whom (joined on both sides).
/// </summary>
internal sealed class RemoteDeviceListRepository(NpgsqlDataSource db) : IRemoteDeviceListStore
{
    private const string SelectServersSharingRoom = """
        SELECT DISTINCT b.user_server
        FROM room_memberships a JOIN room_memberships b ON b.room_nid = a.room_nid
        WHERE a.user_id = @UserId AND a.membership = 'join' AND b.membership = 'join' AND b.user_server <> @Us
        """;

    private const string SelectSharingWithLocal = """
        SELECT DISTINCT a.user_id
        FROM room_memberships a
        WHERE a.user_id = ANY(@UserIds) AND a.membership = 'join'
          AND EXISTS (SELECT 1 FROM room_memberships b
                      WHERE b.room_nid = a.room_nid AND b.user_server = @Us AND b.membership = 'join')
        """;

    private const string SelectFreshLists =
        "SELECT user_id AS UserId, stream_id AS StreamId FROM e2e_remote_device_lists WHERE user_id = ANY(@UserIds) AND NOT stale";

    private const string SelectDevices = """
        SELECT user_id AS UserId, device_id AS DeviceId, key_json AS KeyJson, display_name AS DisplayName
        FROM e2e_remote_devices WHERE user_id = ANY(@UserIds)
        """;

    private const string LockList = "SELECT stream_id AS StreamId, stale AS Stale FROM e2e_remote_device_lists WHERE user_id = @UserId FOR UPDATE";

    private const string InsertStaleList = """
        INSERT INTO e2e_remote_device_lists (user_id, stream_id, stale, updated_ts) VALUES (@UserId, @StreamId, true, @NowTs)
        ON CONFLICT (user_id) DO UPDATE SET stream_id = GREATEST(e2e_remote_device_lists.stream_id, EXCLUDED.stream_id), stale = true,
            updated_ts = EXCLUDED.updated_ts
        """;

    private const string MarkStale =
        "UPDATE e2e_remote_device_lists SET stale = true, stream_id = GREATEST(stream_id, @StreamId), updated_ts = @NowTs WHERE user_id = @UserId";

    private const string SetVersion =
        "UPDATE e2e_remote_device_lists SET stream_id = @StreamId, stale = false, updated_ts = @NowTs WHERE user_id = @UserId";

    private const string UpsertDevice = """
        INSERT INTO e2e_remote_devices (user_id, device_id, key_json, display_name) VALUES (@UserId, @DeviceId, @KeyJson, @DisplayName)
        ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = EXCLUDED.key_json, display_name = EXCLUDED.display_name
        """;

    private const string DeleteDevice = "DELETE FROM e2e_remote_devices WHERE user_id = @UserId AND device_id = @DeviceId";

    private const string DeleteAllDevices = "DELETE FROM e2e_remote_devices WHERE user_id = @UserId";

    private const string UpsertList = """
        INSERT INTO e2e_remote_device_lists (user_id, stream_id, stale, updated_ts) VALUES (@UserId, @StreamId, false, @NowTs)
        ON CONFLICT (user_id) DO UPDATE SET stream_id = EXCLUDED.stream_id, stale = false, updated_ts = EXCLUDED.updated_ts
        """;

    private const string ListExists = "SELECT EXISTS (SELECT 1 FROM e2e_remote_device_lists WHERE user_id = @UserId)";

    // A replaced master key takes the signatures made on it along (our users' user-signing signatures of the old key).
    private const string DeleteSignaturesOnReplacedMaster = """
        DELETE FROM e2e_cross_signing_signatures s
        USING e2e_cross_signing_keys k
        WHERE k.user_id = @UserId AND k.key_type = 'master' AND k.public_key <> @PublicKey
          AND s.target_user_id = k.user_id AND s.target_key_id = k.public_key
        """;

    private const string UpsertCrossSigningKey = """
        INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json, stream_id) VALUES (@UserId, @KeyType, @PublicKey, @KeyJson, 0)
        ON CONFLICT (user_id, key_type) DO UPDATE SET public_key = EXCLUDED.public_key, key_json = EXCLUDED.key_json
        """;

    private const string ForgetUntracked = """
        DELETE FROM e2e_remote_device_lists r
        WHERE r.user_id = ANY(@UserIds)
          AND NOT EXISTS (SELECT 1 FROM room_memberships a JOIN room_memberships b ON b.room_nid = a.room_nid
                          WHERE a.user_id = r.user_id AND a.membership = 'join' AND b.user_server = @Us AND b.membership = 'join')
        RETURNING r.user_id
        """;

    // Never our own users' keys, whatever the list says (those are the keys, not a cache).
    private const string DeleteCrossSigningKeys =
        "DELETE FROM e2e_cross_signing_keys WHERE user_id = ANY(@UserIds) AND substring(user_id from position(':' in user_id) + 1) <> @Us";

    private sealed record ListRow(string UserId, long StreamId);

    private sealed record LockedRow(long StreamId, bool Stale);

    private sealed record DeviceRow(string UserId, string DeviceId, string? KeyJson, string? DisplayName);

    public async Task<IReadOnlyList<string>> GetServersSharingRoomAsync(string userId, string ourServer, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<string>(new CommandDefinition(SelectServersSharingRoom, new { UserId = userId, Us = ourServer }, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyList<string>> GetUsersSharingRoomWithLocalUsersAsync(IReadOnlyCollection<string> userIds, string ourServer, CancellationToken ct)
    {
        if (userIds.Count == 0)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<string>(new CommandDefinition(SelectSharingWithLocal, new { UserIds = userIds.ToArray(), Us = ourServer }, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyList<CachedRemoteDeviceList>> GetFreshAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        if (userIds.Count == 0)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        var args = new { UserIds = userIds.ToArray() };
        var lists = (await conn.QueryAsync<ListRow>(new CommandDefinition(SelectFreshLists, args, tx, cancellationToken: ct))).ToList();
        if (lists.Count == 0)
        {
            return [];
        }

        var devices = (await conn.QueryAsync<DeviceRow>(new CommandDefinition(SelectDevices, new { UserIds = lists.Select(l => l.UserId).ToArray() }, tx, cancellationToken: ct)))
            .ToLookup(d => d.UserId, StringComparer.Ordinal);
        await tx.CommitAsync(ct);
        return lists.Select(l => new CachedRemoteDeviceList(
            l.UserId, l.StreamId, devices[l.UserId].Select(d => new CachedRemoteDevice(d.DeviceId, d.KeyJson, d.DisplayName)).ToList())).ToList();
    }

    public async Task<RemoteDeviceUpdateOutcome> ApplyUpdateAsync(
        string userId, long streamId, IReadOnlyList<long> prevIds, CachedRemoteDevice device, bool deleted, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<LockedRow>(new CommandDefinition(LockList, new { UserId = userId }, tx, cancellationToken: ct));
        var args = new { UserId = userId, StreamId = streamId, NowTs = nowTs, device.DeviceId, device.KeyJson, device.DisplayName };
        RemoteDeviceUpdateOutcome outcome;
        if (row is null)
        {
            await conn.ExecuteAsync(new CommandDefinition(InsertStaleList, args, tx, cancellationToken: ct));
            outcome = RemoteDeviceUpdateOutcome.NotCached;
        }
        else if (!row.Stale && prevIds.Count > 0 && prevIds.All(p => p == row.StreamId))
        {
            await conn.ExecuteAsync(new CommandDefinition(deleted ? DeleteDevice : UpsertDevice, args, tx, cancellationToken: ct));
            await conn.ExecuteAsync(new CommandDefinition(SetVersion, args, tx, cancellationToken: ct));
            outcome = RemoteDeviceUpdateOutcome.Applied;
        }
        else
        {
            await conn.ExecuteAsync(new CommandDefinition(MarkStale, args, tx, cancellationToken: ct));
            outcome = RemoteDeviceUpdateOutcome.MarkedStale;
        }

        await tx.CommitAsync(ct);
        return outcome;
    }

    public async Task<bool> ReplaceAsync(
        string userId, long streamId, IReadOnlyList<CachedRemoteDevice> devices, IReadOnlyList<CachedCrossSigningKey> crossSigningKeys, string ourServer, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<LockedRow>(new CommandDefinition(LockList, new { UserId = userId }, tx, cancellationToken: ct));
        if (row is not null && row.StreamId > streamId)
        {
            return false; // a newer version was heard of since the snapshot was asked for
        }

        var tracked = await conn.QueryAsync<string>(new CommandDefinition(SelectSharingWithLocal, new { UserIds = new[] { userId }, Us = ourServer }, tx, cancellationToken: ct));
        if (!tracked.Any())
        {
            return false;
        }

        var args = new { UserId = userId, StreamId = streamId, NowTs = nowTs };
        await conn.ExecuteAsync(new CommandDefinition(UpsertList, args, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(DeleteAllDevices, args, tx, cancellationToken: ct));
        foreach (var d in devices)
        {
            await conn.ExecuteAsync(new CommandDefinition(UpsertDevice, new { UserId = userId, d.DeviceId, d.KeyJson, d.DisplayName }, tx, cancellationToken: ct));
        }

        await SaveCrossSigningKeysAsync(conn, tx, userId, crossSigningKeys, ct);
        await tx.CommitAsync(ct);
        return true;
    }

    public async Task<bool> UpdateCrossSigningKeysAsync(string userId, IReadOnlyList<CachedCrossSigningKey> keys, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (!await conn.ExecuteScalarAsync<bool>(new CommandDefinition(ListExists, new { UserId = userId }, tx, cancellationToken: ct)))
        {
            return false;
        }

        await SaveCrossSigningKeysAsync(conn, tx, userId, keys, ct);
        await tx.CommitAsync(ct);
        return true;
    }

    private static async Task SaveCrossSigningKeysAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string userId, IReadOnlyList<CachedCrossSigningKey> keys, CancellationToken ct)
    {
        foreach (var key in keys)
        {
            var args = new { UserId = userId, key.KeyType, key.PublicKey, key.KeyJson };
            if (key.KeyType == "master")
            {
                await conn.ExecuteAsync(new CommandDefinition(DeleteSignaturesOnReplacedMaster, args, tx, cancellationToken: ct));
            }

            await conn.ExecuteAsync(new CommandDefinition(UpsertCrossSigningKey, args, tx, cancellationToken: ct));
        }
    }

    public async Task<IReadOnlyList<string>> ForgetUntrackedAsync(IReadOnlyCollection<string> userIds, string ourServer, CancellationToken ct)
    {
        if (userIds.Count == 0)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var forgotten = (await conn.QueryAsync<string>(new CommandDefinition(ForgetUntracked, new { UserIds = userIds.ToArray(), Us = ourServer }, tx, cancellationToken: ct))).ToList();
        if (forgotten.Count > 0)
        {
            await conn.ExecuteAsync(new CommandDefinition(DeleteCrossSigningKeys, new { UserIds = forgotten.ToArray(), Us = ourServer }, tx, cancellationToken: ct));
        }

        await tx.CommitAsync(ct);
        return forgotten;
    }
}
