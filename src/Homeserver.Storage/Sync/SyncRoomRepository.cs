using System.Text.Json;
using Dapper;
using Homeserver.Core;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Sync;
using Homeserver.Storage.RoomFeatures;
using Npgsql;

namespace Homeserver.Storage.Sync;

/// <summary>
/// Sync's batched reads over <c>events</c> and <c>room_memberships</c> (tables described in RoomRepository):
/// each method answers for many rooms in one query (a LATERAL join per room over the <c>(room_nid,
/// stream_ordering)</c> index), and parsed events come from the shared <see cref="EventCache"/> when present.
/// </summary>
internal sealed class SyncRoomRepository(NpgsqlDataSource db, EventCache cache) : ISyncRoomStore
{
    private const string StoredColumns = $"""
        e.event_id AS EventId, e.json AS Json, r.room_version AS Version, e.room_nid AS RoomNid, e.stream_ordering AS StreamOrdering,
        e.topological_ordering AS TopologicalOrdering, e.redacted_by AS RedactedBy, e.state_before AS StateBefore, e.state_after AS StateAfter,
        {StoredEventQueries.TransactionColumns}
        """;

    private const string SelectLatest = $"""
        SELECT {StoredColumns}
        FROM unnest(@Rooms, @After, @UpTo) AS w(room_nid, after_stream, up_to_stream)
        CROSS JOIN LATERAL (
            SELECT * FROM events x
            WHERE x.room_nid = w.room_nid AND x.stream_ordering > w.after_stream AND x.stream_ordering <= w.up_to_stream
              AND x.rejection_reason IS NULL AND NOT x.soft_failed
            ORDER BY x.stream_ordering DESC LIMIT @Limit) e
        JOIN rooms r ON r.room_nid = e.room_nid
        """;

    private const string SelectSnapshotsAt = """
        SELECT w.room_nid AS RoomNid, e.state_after AS Snapshot
        FROM unnest(@Rooms, @UpTo) AS w(room_nid, up_to_stream)
        CROSS JOIN LATERAL (
            SELECT x.state_after FROM events x
            WHERE x.room_nid = w.room_nid AND x.stream_ordering IS NOT NULL AND x.stream_ordering <= w.up_to_stream
              AND x.rejection_reason IS NULL
            ORDER BY x.stream_ordering DESC LIMIT 1) e
        WHERE e.state_after IS NOT NULL
        """;

    private const string SelectLastPositions = """
        SELECT r AS RoomNid, e.stream_ordering AS Snapshot
        FROM unnest(@Rooms) AS r
        CROSS JOIN LATERAL (
            SELECT x.stream_ordering FROM events x
            WHERE x.room_nid = r AND x.stream_ordering IS NOT NULL AND x.stream_ordering <= @UpTo
              AND x.rejection_reason IS NULL AND NOT x.soft_failed
              AND (@Types::text[] IS NULL OR x.event_type = ANY(@Types))
            ORDER BY x.stream_ordering DESC LIMIT 1) e
        """;

    private const string SelectCounts = """
        SELECT room_nid AS RoomNid,
               count(*) FILTER (WHERE membership = 'join')::int AS Joined,
               count(*) FILTER (WHERE membership = 'invite')::int AS Invited
        FROM room_memberships WHERE room_nid = ANY(@Rooms)
        GROUP BY room_nid
        """;

    private const string SelectHeroes = """
        SELECT RoomNid, UserId, Present FROM (
            SELECT room_nid AS RoomNid, user_id AS UserId, membership IN ('join', 'invite') AS Present,
                   row_number() OVER (PARTITION BY room_nid, membership IN ('join', 'invite') ORDER BY stream_ordering, user_id) AS rn
            FROM room_memberships WHERE room_nid = ANY(@Rooms) AND user_id <> @UserId
        ) ranked
        WHERE rn <= @Count
        ORDER BY RoomNid, rn
        """;

    private const string SelectByIds = $"""
        SELECT {StoredColumns}
        FROM events e JOIN rooms r ON r.room_nid = e.room_nid
        WHERE e.event_id = ANY(@Ids)
        """;

    private sealed record Row(
        string EventId, string Json, string Version, long RoomNid, long? StreamOrdering, long TopologicalOrdering, string? RedactedBy,
        long? StateBefore, long? StateAfter, string? TxnUser, string? TxnDevice, string? TxnId);

    private sealed record SnapshotRow(long RoomNid, long Snapshot);

    private sealed record CountRow(long RoomNid, int Joined, int Invited);

    private sealed record HeroRow(long RoomNid, string UserId, bool Present);

    public async Task<IReadOnlyDictionary<long, IReadOnlyList<StoredEvent>>> GetLatestEventsAsync(IReadOnlyList<TimelineWindow> windows, int limit, CancellationToken ct)
    {
        var result = new Dictionary<long, IReadOnlyList<StoredEvent>>();
        if (windows.Count == 0 || limit <= 0)
        {
            return result;
        }

        var args = new
        {
            Rooms = windows.Select(w => w.RoomNid).ToArray(),
            After = windows.Select(w => w.AfterStream).ToArray(),
            UpTo = windows.Select(w => w.UpToStream).ToArray(),
            Limit = limit,
        };
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<Row>(new CommandDefinition(SelectLatest, args, cancellationToken: ct));
        foreach (var group in rows.GroupBy(r => r.RoomNid))
        {
            result[group.Key] = group.OrderByDescending(r => r.StreamOrdering).Select(ToStored).ToList();
        }

        return result;
    }

    public async Task<IReadOnlyDictionary<long, long>> GetStateSnapshotsAtAsync(IReadOnlyList<(long RoomNid, long UpToStream)> rooms, CancellationToken ct)
    {
        if (rooms.Count == 0)
        {
            return new Dictionary<long, long>();
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        var args = new { Rooms = rooms.Select(r => r.RoomNid).ToArray(), UpTo = rooms.Select(r => r.UpToStream).ToArray() };
        var rows = await conn.QueryAsync<SnapshotRow>(new CommandDefinition(SelectSnapshotsAt, args, cancellationToken: ct));
        return rows.ToDictionary(r => r.RoomNid, r => r.Snapshot);
    }

    public async Task<IReadOnlyDictionary<long, long>> GetLastPositionsAsync(IReadOnlyCollection<long> roomNids, long upToStream, IReadOnlyCollection<string>? types, CancellationToken ct)
    {
        if (roomNids.Count == 0)
        {
            return new Dictionary<long, long>();
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        var args = new { Rooms = roomNids.ToArray(), UpTo = upToStream, Types = types?.ToArray() };
        var rows = await conn.QueryAsync<SnapshotRow>(new CommandDefinition(SelectLastPositions, args, cancellationToken: ct));
        return rows.ToDictionary(r => r.RoomNid, r => r.Snapshot);
    }

    public async Task<IReadOnlyDictionary<long, RoomMemberSummary>> GetMemberSummariesAsync(IReadOnlyCollection<long> roomNids, string userId, int heroCount, CancellationToken ct)
    {
        var result = new Dictionary<long, RoomMemberSummary>();
        if (roomNids.Count == 0)
        {
            return result;
        }

        var rooms = roomNids.ToArray();
        await using var conn = await db.OpenConnectionAsync(ct);
        var counts = (await conn.QueryAsync<CountRow>(new CommandDefinition(SelectCounts, new { Rooms = rooms }, cancellationToken: ct))).ToDictionary(r => r.RoomNid);
        var heroes = (await conn.QueryAsync<HeroRow>(new CommandDefinition(SelectHeroes, new { Rooms = rooms, UserId = userId, Count = heroCount }, cancellationToken: ct)))
            .GroupBy(h => h.RoomNid)
            .ToDictionary(g => g.Key, g => g.ToList());
        foreach (var room in rooms)
        {
            var c = counts.GetValueOrDefault(room);
            var candidates = heroes.GetValueOrDefault(room) ?? [];
            var present = candidates.Where(h => h.Present).Select(h => h.UserId).ToList();
            var chosen = present.Count > 0 ? present : candidates.Where(h => !h.Present).Select(h => h.UserId).ToList();
            result[room] = new RoomMemberSummary(c?.Joined ?? 0, c?.Invited ?? 0, chosen);
        }

        return result;
    }

    public async Task<IReadOnlyList<StoredEvent>> GetStoredEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken ct)
    {
        if (eventIds.Count == 0)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<Row>(new CommandDefinition(SelectByIds, new { Ids = eventIds.ToArray() }, cancellationToken: ct));
        return rows.Select(ToStored).ToList();
    }

    private StoredEvent ToStored(Row row)
    {
        if (!cache.TryGet(row.EventId, out var pdu))
        {
            using var doc = JsonDocument.Parse(row.Json);
            pdu = Pdu.Parse(doc.RootElement.Clone(), RoomVersion.Find(row.Version)!, row.EventId);
            cache.Add(pdu);
        }

        var txn = row.TxnId is null ? null : new TransactionRef(row.TxnUser!, row.TxnDevice!, row.TxnId);
        return new StoredEvent(pdu, row.StreamOrdering, row.TopologicalOrdering, row.RedactedBy, txn, row.StateBefore, row.StateAfter);
    }
}
