using Dapper;
using Homeserver.Sync.Presence;
using Npgsql;

namespace Homeserver.Storage.Sync;

/// <summary>
/// The <c>presence</c> table (see migration 0006; it holds other servers' users too, whose <c>last_user_sync_ts</c> is
/// when their server last told us), and who shares a room with whom (from <c>room_memberships</c>).
/// </summary>
internal sealed class PresenceRepository(NpgsqlDataSource db) : IPresenceStore
{
    private const string Columns = """
        user_id AS UserId, state AS State, status_msg AS StatusMsg, last_active_ts AS LastActiveTs,
        last_user_sync_ts AS LastUserSyncTs, currently_active AS CurrentlyActive, stream_id AS StreamId
        """;

    private const string SelectByUsers = $"SELECT {Columns} FROM presence WHERE user_id = ANY(@Users)";

    private const string SelectChanged = $"""
        SELECT {Columns} FROM presence WHERE stream_id > @After AND stream_id <= @UpTo ORDER BY stream_id DESC LIMIT @Limit
        """;

    private const string Upsert = """
        INSERT INTO presence (user_id, state, status_msg, last_active_ts, last_user_sync_ts, currently_active, stream_id)
        VALUES (@UserId, @State, @StatusMsg, @LastActiveTs, @LastUserSyncTs, @CurrentlyActive, @StreamId)
        ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state, status_msg = EXCLUDED.status_msg,
            last_active_ts = EXCLUDED.last_active_ts, last_user_sync_ts = EXCLUDED.last_user_sync_ts,
            currently_active = EXCLUDED.currently_active, stream_id = EXCLUDED.stream_id
        """;

    private const string SelectSharing = """
        SELECT DISTINCT other.user_id
        FROM room_memberships mine JOIN room_memberships other ON other.room_nid = mine.room_nid
        WHERE mine.user_id = @UserId AND mine.membership = 'join' AND other.membership = 'join'
        """;

    private const string SelectSharingAmong = """
        SELECT DISTINCT other.user_id
        FROM room_memberships mine JOIN room_memberships other ON other.room_nid = mine.room_nid
        WHERE mine.user_id = @UserId AND mine.membership = 'join' AND other.membership = 'join' AND other.user_id = ANY(@Candidates)
        """;

    private const string SelectSharingWithServer = """
        SELECT DISTINCT them.user_id
        FROM room_memberships them
        WHERE them.user_id = ANY(@Users) AND them.membership = 'join'
          AND EXISTS (SELECT 1 FROM room_memberships us WHERE us.user_server = @Server AND us.membership = 'join' AND us.room_nid = them.room_nid)
        """;

    // The server part of a user ID is everything after the first colon (as room_memberships.user_server).
    private const string SelectActiveRemote = $"""
        SELECT {Columns} FROM presence WHERE state <> 'offline' AND substring(user_id from position(':' in user_id) + 1) <> @Server
        """;

    public async Task<IReadOnlyList<UserPresence>> GetAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        if (userIds.Count == 0)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<UserPresence>(new CommandDefinition(SelectByUsers, new { Users = userIds.ToArray() }, cancellationToken: ct))).ToList();
    }

    public async Task UpsertAsync(UserPresence presence, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(Upsert, presence, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<UserPresence>> GetChangedAsync(long afterStream, long upToStream, int limit, CancellationToken ct)
    {
        if (upToStream <= afterStream)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        var args = new { After = afterStream, UpTo = upToStream, Limit = limit };
        return (await conn.QueryAsync<UserPresence>(new CommandDefinition(SelectChanged, args, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyCollection<string>> GetUsersSharingRoomAsync(string userId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<string>(new CommandDefinition(SelectSharing, new { UserId = userId }, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyCollection<string>> FilterUsersSharingRoomAsync(string userId, IReadOnlyCollection<string> candidates, CancellationToken ct)
    {
        if (candidates.Count == 0)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        var args = new { UserId = userId, Candidates = candidates.ToArray() };
        return (await conn.QueryAsync<string>(new CommandDefinition(SelectSharingAmong, args, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyCollection<string>> FilterUsersSharingRoomWithServerAsync(IReadOnlyCollection<string> userIds, string server, CancellationToken ct)
    {
        if (userIds.Count == 0)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        var args = new { Users = userIds.ToArray(), Server = server };
        return (await conn.QueryAsync<string>(new CommandDefinition(SelectSharingWithServer, args, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyList<UserPresence>> GetActiveRemoteAsync(string ourServer, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<UserPresence>(new CommandDefinition(SelectActiveRemote, new { Server = ourServer }, cancellationToken: ct))).ToList();
    }
}
