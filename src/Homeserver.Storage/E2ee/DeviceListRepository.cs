using Dapper;
using Homeserver.E2ee;
using Npgsql;

namespace Homeserver.Storage.E2ee;

/// <summary>
/// Table <c>e2e_device_list_changes</c>, and the reads of <c>room_memberships</c> that decide who shares a room with
/// whom (a joined room, both sides joined, as /keys/changes defines it).
/// </summary>
internal sealed class DeviceListRepository(NpgsqlDataSource db) : IDeviceListStore
{
    private const string InsertChanges = """
        INSERT INTO e2e_device_list_changes (stream_id, user_id, notify_user_id, created_ts)
        SELECT @StreamId, u, n, @NowTs FROM unnest(@UserIds::text[], @NotifyUserIds::text[]) AS t (u, n)
        """;

    private const string SelectChangedUsers = """
        SELECT DISTINCT c.user_id
        FROM e2e_device_list_changes c
        WHERE c.stream_id > @After AND c.stream_id <= @UpTo
          AND (c.notify_user_id = @Viewer
               OR (c.notify_user_id IS NULL AND (c.user_id = @Viewer OR EXISTS (
                    SELECT 1 FROM room_memberships a JOIN room_memberships b ON b.room_nid = a.room_nid
                    WHERE a.user_id = @Viewer AND a.membership = 'join' AND b.user_id = c.user_id AND b.membership = 'join'))))
        """;

    private const string SelectMembershipChanges = """
        SELECT m.room_nid AS RoomNid, m.user_id AS UserId, m.membership AS Membership, v.membership AS ViewerMembership
        FROM room_memberships v JOIN room_memberships m ON m.room_nid = v.room_nid
        WHERE v.user_id = @Viewer
          AND (v.membership = 'join' OR (v.stream_ordering > @After AND v.stream_ordering <= @UpTo))
          AND m.stream_ordering > @After AND m.stream_ordering <= @UpTo
        """;

    private const string SelectJoinedMembers =
        "SELECT DISTINCT user_id FROM room_memberships WHERE room_nid = ANY(@RoomNids) AND membership = 'join'";

    private const string SelectUsersSharingRoom = """
        SELECT DISTINCT b.user_id
        FROM room_memberships a JOIN room_memberships b ON b.room_nid = a.room_nid
        WHERE a.user_id = @UserId AND a.membership = 'join' AND b.membership = 'join' AND b.user_id <> @UserId
        """;

    private const string SelectUsersSharingRoomAmong = """
        SELECT DISTINCT b.user_id
        FROM room_memberships a JOIN room_memberships b ON b.room_nid = a.room_nid
        WHERE a.user_id = @UserId AND a.membership = 'join' AND b.membership = 'join' AND b.user_id = ANY(@Among)
        """;

    private const string SelectLastChange = """
        SELECT COALESCE(max(stream_id), 0) FROM e2e_device_list_changes
        WHERE user_id = @UserId AND notify_user_id IS NULL AND stream_id <= @UpTo
        """;

    private const string DeleteSignaturesOnDevices =
        "DELETE FROM e2e_cross_signing_signatures WHERE target_user_id = @UserId AND target_key_id = ANY(@DeviceIds)";

    private const string DeleteSignaturesByDevices =
        "DELETE FROM e2e_cross_signing_signatures WHERE signer_user_id = @UserId AND signing_key_id = ANY(@DeviceKeyIds)";

    // Normally gone with the device rows (ON DELETE CASCADE); deleted here too in case devices are ever soft-deleted.
    private const string DeleteDeviceRows = """
        DELETE FROM e2e_device_keys WHERE user_id = @UserId AND device_id = ANY(@DeviceIds);
        DELETE FROM e2e_one_time_keys WHERE user_id = @UserId AND device_id = ANY(@DeviceIds);
        DELETE FROM e2e_fallback_keys WHERE user_id = @UserId AND device_id = ANY(@DeviceIds);
        DELETE FROM e2e_to_device_inbox WHERE user_id = @UserId AND device_id = ANY(@DeviceIds);
        DELETE FROM e2e_to_device_deliveries WHERE user_id = @UserId AND device_id = ANY(@DeviceIds);
        DELETE FROM e2e_dehydrated_devices WHERE user_id = @UserId AND device_id = ANY(@DeviceIds)
        """;

    /// <summary>Inserts device list stream rows inside another repository's transaction.</summary>
    internal static Task InsertChangesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long streamId, IReadOnlyList<DeviceListChange> changes, long nowTs, CancellationToken ct) =>
        changes.Count == 0
            ? Task.CompletedTask
            : conn.ExecuteAsync(new CommandDefinition(InsertChanges, new
            {
                StreamId = streamId,
                UserIds = changes.Select(c => c.UserId).ToArray(),
                NotifyUserIds = changes.Select(c => c.NotifyUserId).ToArray(),
                NowTs = nowTs,
            }, tx, cancellationToken: ct));

    public async Task AddChangesAsync(long streamId, IReadOnlyList<DeviceListChange> changes, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await InsertChangesAsync(conn, tx, streamId, changes, nowTs, ct);
        await tx.CommitAsync(ct);
    }

    public async Task<IReadOnlyList<string>> GetChangedUsersAsync(string viewerUserId, long after, long upTo, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<string>(new CommandDefinition(SelectChangedUsers, new { Viewer = viewerUserId, After = after, UpTo = upTo }, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyList<MembershipChange>> GetMembershipChangesAsync(string viewerUserId, long after, long upTo, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<MembershipChange>(new CommandDefinition(SelectMembershipChanges, new { Viewer = viewerUserId, After = after, UpTo = upTo }, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyList<string>> GetJoinedMembersAsync(IReadOnlyCollection<long> roomNids, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<string>(new CommandDefinition(SelectJoinedMembers, new { RoomNids = roomNids.ToArray() }, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyList<string>> GetUsersSharingRoomAsync(string userId, IReadOnlyCollection<string>? among, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var command = among is null
            ? new CommandDefinition(SelectUsersSharingRoom, new { UserId = userId }, cancellationToken: ct)
            : new CommandDefinition(SelectUsersSharingRoomAmong, new { UserId = userId, Among = among.ToArray() }, cancellationToken: ct);
        return (await conn.QueryAsync<string>(command)).ToList();
    }

    public async Task<long> GetLastChangeAsync(string userId, long upTo, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<long>(new CommandDefinition(SelectLastChange, new { UserId = userId, UpTo = upTo }, cancellationToken: ct));
    }

    public async Task DeleteDeviceDataAsync(string userId, IReadOnlyCollection<string> deviceIds, CancellationToken ct)
    {
        var args = new { UserId = userId, DeviceIds = deviceIds.ToArray(), DeviceKeyIds = deviceIds.Select(d => "ed25519:" + d).ToArray() };
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(DeleteSignaturesOnDevices, args, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(DeleteSignaturesByDevices, args, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(DeleteDeviceRows, args, tx, cancellationToken: ct));

        await tx.CommitAsync(ct);
    }
}
