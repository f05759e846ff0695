using Dapper;
using Homeserver.Users;
using Npgsql;

namespace Homeserver.Storage.Users;

/// <summary>
/// User directory search over <c>users.directory_search</c>. Who may be found: with search_all_users every active
/// non-guest local user; otherwise the searcher, users sharing a joined room with the searcher, and users joined to
/// a public room (join rule <c>public</c> in the current state). The room conditions read the rooms work's
/// <c>room_memberships(room_nid, user_id, membership)</c> table and are left out while that table does not exist.
/// </summary>
internal sealed class UserDirectoryRepository(NpgsqlDataSource db) : IUserDirectoryStore
{
    private const string Select = """
        SELECT u.user_id AS UserId, u.displayname AS DisplayName, u.avatar_url AS AvatarUrl
        FROM users u
        WHERE NOT u.deactivated AND NOT u.is_guest
          AND u.directory_search LIKE ALL (@Patterns)
          AND (@SearchAll OR u.user_id = @Searcher {0})
        ORDER BY u.displayname IS NULL, u.avatar_url IS NULL, u.displayname, u.user_id
        LIMIT @Limit
        """;

    private const string SharesARoom = """
        OR EXISTS (
            SELECT 1 FROM room_memberships mine
            JOIN room_memberships theirs ON theirs.room_nid = mine.room_nid
            WHERE mine.user_id = @Searcher AND mine.membership = 'join'
              AND theirs.user_id = u.user_id AND theirs.membership = 'join')
        OR EXISTS (
            SELECT 1 FROM room_memberships theirs
            JOIN current_state cs ON cs.room_nid = theirs.room_nid
            JOIN state_keys sk ON sk.state_key_nid = cs.state_key_nid AND sk.event_type = 'm.room.join_rules' AND sk.state_key = ''
            JOIN events e ON e.event_nid = cs.event_nid
            WHERE theirs.user_id = u.user_id AND theirs.membership = 'join'
              AND (e.json::jsonb -> 'content' ->> 'join_rule') = 'public')
        """;

    private const string MembershipTableExists = "SELECT to_regclass('room_memberships') IS NOT NULL";

    private static readonly string WithoutRooms = string.Format(System.Globalization.CultureInfo.InvariantCulture, Select, string.Empty);
    private static readonly string WithRooms = string.Format(System.Globalization.CultureInfo.InvariantCulture, Select, SharesARoom);

    // Once the rooms tables exist they stay; until then it is checked on each search (cheap, and needs no restart).
    private volatile bool _roomsExist;

    public async Task<IReadOnlyList<DirectoryUser>> SearchAsync(string searcherId, IReadOnlyList<string> terms, bool searchAllUsers, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        if (!searchAllUsers && !_roomsExist)
        {
            _roomsExist = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(MembershipTableExists, cancellationToken: ct));
        }

        // Terms are letters and digits only (UserDirectoryService.Tokenise), so they need no LIKE escaping.
        var args = new
        {
            Patterns = terms.Select(t => "% " + t + "%").ToArray(),
            SearchAll = searchAllUsers,
            Searcher = searcherId,
            Limit = limit,
        };
        var sql = searchAllUsers || !_roomsExist ? WithoutRooms : WithRooms;
        return (await conn.QueryAsync<DirectoryUser>(new CommandDefinition(sql, args, cancellationToken: ct))).ToList();
    }
}
