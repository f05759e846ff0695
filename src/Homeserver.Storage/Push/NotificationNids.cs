using System.Collections.Concurrent;
using Dapper;
using Npgsql;

namespace Homeserver.Storage.Push;

/// <summary>
/// The numbers notifications are stored under: a local user's <c>users.user_nid</c> and a room's <c>rooms.room_nid</c>.
/// Both never change once assigned, so what was read once is kept (up to <see cref="Capacity"/> of each, then the
/// cache starts again). A user or room with no number (not a local user, an unknown room) is left out of the result
/// and not remembered, so that it is looked up again once it exists.
/// </summary>
internal sealed class NotificationNids(NpgsqlDataSource db)
{
    private const int Capacity = 200_000;

    private const string SelectUsers = "SELECT user_id AS Id, user_nid AS Nid FROM users WHERE user_id = ANY(@Ids)";
    private const string SelectRooms = "SELECT room_id AS Id, room_nid AS Nid FROM rooms WHERE room_id = ANY(@Ids)";

    private readonly ConcurrentDictionary<string, long> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _rooms = new(StringComparer.Ordinal);

    private sealed class Row
    {
        public string Id { get; set; } = string.Empty;

        public long Nid { get; set; }
    }

    // The single-ID lookups answer from the cache without building a result (every /sync asks for its user).
    public async Task<int?> UserAsync(string userId, CancellationToken ct) =>
        _users.TryGetValue(userId, out var cached) ? (int)cached
        : (await UsersAsync([userId], ct)).TryGetValue(userId, out var nid) ? nid : null;

    public async Task<IReadOnlyDictionary<string, int>> UsersAsync(IEnumerable<string> userIds, CancellationToken ct)
    {
        var found = await LookUpAsync(_users, userIds, SelectUsers, ct);
        return found.ToDictionary(p => p.Key, p => checked((int)p.Value), StringComparer.Ordinal);
    }

    public async Task<long?> RoomAsync(string roomId, CancellationToken ct) =>
        _rooms.TryGetValue(roomId, out var cached) ? cached
        : (await RoomsAsync([roomId], ct)).TryGetValue(roomId, out var nid) ? nid : null;

    public Task<Dictionary<string, long>> RoomsAsync(IEnumerable<string> roomIds, CancellationToken ct) =>
        LookUpAsync(_rooms, roomIds, SelectRooms, ct);

    private async Task<Dictionary<string, long>> LookUpAsync(
        ConcurrentDictionary<string, long> cache, IEnumerable<string> ids, string sql, CancellationToken ct)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        HashSet<string>? missing = null;
        foreach (var id in ids)
        {
            if (cache.TryGetValue(id, out var nid))
            {
                result[id] = nid;
            }
            else
            {
                (missing ??= new HashSet<string>(StringComparer.Ordinal)).Add(id);
            }
        }

        if (missing is null)
        {
            return result;
        }

        if (cache.Count >= Capacity)
        {
            cache.Clear();
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        foreach (var row in await conn.QueryAsync<Row>(new CommandDefinition(sql, new { Ids = missing.ToArray() }, cancellationToken: ct)))
        {
            result[row.Id] = row.Nid;
            cache[row.Id] = row.Nid;
        }

        return result;
    }
}
