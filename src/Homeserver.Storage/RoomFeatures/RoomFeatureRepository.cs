using System.Text.Json;
using Dapper;
using Homeserver.Rooms.Persistence;
using Npgsql;

namespace Homeserver.Storage.RoomFeatures;

/// <summary>
/// Room descriptions from <c>current_state</c>, the <c>content_reports</c> table, forgetting rooms
/// (<c>room_memberships.forgotten</c>) and lookups by timestamp (0006_rooms.sql).
/// </summary>
internal sealed class RoomFeatureRepository(NpgsqlDataSource db) : IRoomFeatureStore
{
    private static readonly string[] DescribedTypes =
    [
        "m.room.create", "m.room.name", "m.room.topic", "m.room.avatar", "m.room.canonical_alias", "m.room.join_rules",
        "m.room.history_visibility", "m.room.guest_access", "m.room.encryption",
    ];

    private const string SelectDescriptions = """
        SELECT r.room_nid AS RoomNid, r.room_id AS RoomId, r.room_version AS Version,
               (SELECT count(*)::int FROM room_memberships m WHERE m.room_nid = r.room_nid AND m.membership = 'join') AS Joined,
               k.event_type AS Type, e.json AS Json
        FROM rooms r
        JOIN room_current_snapshot s ON s.room_nid = r.room_nid
        LEFT JOIN (current_state c
                   JOIN state_keys k ON k.state_key_nid = c.state_key_nid AND k.state_key = '' AND k.event_type = ANY(@Types)
                   JOIN events e ON e.event_nid = c.event_nid) ON c.room_nid = r.room_nid
        WHERE r.room_nid = ANY(@Nids)
        """;

    private const string SelectPublished = "SELECT r.room_nid FROM room_directory d JOIN rooms r ON r.room_id = d.room_id";

    private const string InsertReport = """
        INSERT INTO content_reports (room_id, event_id, user_id, reason, score, received_ts)
        VALUES (@RoomId, @EventId, @UserId, @Reason, @Score, @ReceivedTs)
        """;

    private const string Forget = """
        UPDATE room_memberships SET forgotten = true WHERE room_nid = @RoomNid AND user_id = @UserId AND membership IN ('leave', 'ban')
        """;

    internal const string SelectAfterTs = $"""
        SELECT {StoredEventQueries.Columns} FROM events e {StoredEventQueries.Joins}
        WHERE e.room_nid = @RoomNid AND {StoredEventQueries.Visible} AND e.origin_server_ts >= @Ts
        ORDER BY e.origin_server_ts, e.stream_ordering LIMIT 1
        """;

    internal const string SelectBeforeTs = $"""
        SELECT {StoredEventQueries.Columns} FROM events e {StoredEventQueries.Joins}
        WHERE e.room_nid = @RoomNid AND {StoredEventQueries.Visible} AND e.origin_server_ts <= @Ts
        ORDER BY e.origin_server_ts DESC, e.stream_ordering DESC LIMIT 1
        """;

    private sealed record DescriptionRow(long RoomNid, string RoomId, string Version, int Joined, string? Type, string? Json);

    public async Task<IReadOnlyList<RoomDescription>> DescribeRoomsAsync(IReadOnlyCollection<long> roomNids, CancellationToken ct)
    {
        if (roomNids.Count == 0)
        {
            return [];
        }

        List<DescriptionRow> rows;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            rows = (await conn.QueryAsync<DescriptionRow>(new CommandDefinition(SelectDescriptions, new { Nids = roomNids.ToArray(), Types = DescribedTypes }, cancellationToken: ct))).ToList();
        }

        var result = new List<RoomDescription>();
        foreach (var room in rows.GroupBy(r => r.RoomNid))
        {
            var first = room.First();
            var contents = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var row in room)
            {
                if (row.Type is not null && row.Json is not null)
                {
                    using var doc = JsonDocument.Parse(row.Json);
                    if (doc.RootElement.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Object)
                    {
                        contents[row.Type] = content.Clone();
                    }
                }
            }

            string? Read(string type, string field) =>
                contents.TryGetValue(type, out var c) && c.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

            var allowed = new List<string>();
            if (contents.TryGetValue("m.room.join_rules", out var rules) && rules.TryGetProperty("allow", out var allow) && allow.ValueKind == JsonValueKind.Array)
            {
                foreach (var entry in allow.EnumerateArray())
                {
                    if (entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
                        && t.GetString() == "m.room_membership" && entry.TryGetProperty("room_id", out var id) && id.ValueKind == JsonValueKind.String)
                    {
                        allowed.Add(id.GetString()!);
                    }
                }
            }

            result.Add(new RoomDescription(
                first.RoomId,
                first.RoomNid,
                first.Version,
                first.Joined,
                Read("m.room.name", "name"),
                Read("m.room.topic", "topic"),
                Read("m.room.avatar", "url"),
                Read("m.room.canonical_alias", "alias"),
                Read("m.room.join_rules", "join_rule") ?? "invite",
                Read("m.room.history_visibility", "history_visibility") ?? "shared",
                Read("m.room.guest_access", "guest_access"),
                Read("m.room.create", "type"),
                Read("m.room.encryption", "algorithm"),
                allowed));
        }

        return result;
    }

    public async Task<IReadOnlyList<long>> GetPublishedRoomNidsAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<long>(new CommandDefinition(SelectPublished, cancellationToken: ct))).ToList();
    }

    public async Task AddReportAsync(ContentReport report, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(InsertReport, report, cancellationToken: ct));
    }

    public async Task ForgetAsync(long roomNid, string userId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(Forget, new { RoomNid = roomNid, UserId = userId }, cancellationToken: ct));
    }

    public async Task<StoredEvent?> FindEventByTimestampAsync(long roomNid, long ts, bool forwards, CancellationToken ct) =>
        (await StoredEventQueries.QueryAsync(db, forwards ? SelectAfterTs : SelectBeforeTs, new { RoomNid = roomNid, Ts = ts }, ct, inIndexOrder: true)).FirstOrDefault();
}

/// <summary>The <c>m.ignored_user_list</c> global account data of a user (table <c>account_data</c>).</summary>
internal sealed class IgnoredUsersRepository(NpgsqlDataSource db) : IIgnoredUsersStore
{
    private const string SelectIgnored = """
        SELECT content FROM account_data WHERE user_id = @UserId AND room_id = '' AND data_type = 'm.ignored_user_list'
        """;

    public async Task<IReadOnlySet<string>> GetIgnoredUsersAsync(string userId, CancellationToken ct)
    {
        string? content;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            content = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(SelectIgnored, new { UserId = userId }, cancellationToken: ct));
        }

        return Homeserver.Rooms.Services.IgnoredUsers.Parse(content);
    }
}
