using System.Text.Json;
using Dapper;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Storage.RoomFeatures;
using Npgsql;

namespace Homeserver.Storage.Rooms;

/// <summary>Read queries over the event DAG for the client API and sync (see RoomRepository for the tables).</summary>
internal sealed class RoomReadRepository(NpgsqlDataSource db, StateTranslator translator, RoomNewsTracker newsTracker) : IRoomReadStore
{
    private const string StoredColumns = StoredEventQueries.Columns;

    private const string FromEvents = $"FROM events e {StoredEventQueries.Joins}";

    private const string Visible = StoredEventQueries.Visible;

    private const string SelectByIds = $"SELECT {StoredColumns} {FromEvents} WHERE e.event_id = ANY(@Ids)";

    internal const string SelectBackwardsTopological = $"""
        SELECT {StoredColumns} {FromEvents}
        WHERE e.room_nid = @RoomNid AND {Visible} AND (e.topological_ordering, e.stream_ordering) < (@Topo, @Stream)
          AND (@ToTopo::bigint IS NULL OR (e.topological_ordering, e.stream_ordering) > (@ToTopo, @ToStream))
          AND (@ToStreamOnly::bigint IS NULL OR e.stream_ordering > @ToStreamOnly)
        ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT @Limit
        """;

    internal const string SelectBackwardsStream = $"""
        SELECT {StoredColumns} {FromEvents}
        WHERE e.room_nid = @RoomNid AND {Visible} AND e.stream_ordering <= @Stream
          AND (@ToTopo::bigint IS NULL OR (e.topological_ordering, e.stream_ordering) > (@ToTopo, @ToStream))
          AND (@ToStreamOnly::bigint IS NULL OR e.stream_ordering > @ToStreamOnly)
        ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT @Limit
        """;

    private const string SelectForwardsTopological = $"""
        SELECT {StoredColumns} {FromEvents}
        WHERE e.room_nid = @RoomNid AND {Visible} AND (e.topological_ordering, e.stream_ordering) > (@Topo, @Stream)
          AND (@ToTopo::bigint IS NULL OR (e.topological_ordering, e.stream_ordering) <= (@ToTopo, @ToStream))
          AND (@ToStreamOnly::bigint IS NULL OR e.stream_ordering <= @ToStreamOnly)
        ORDER BY e.topological_ordering, e.stream_ordering LIMIT @Limit
        """;

    private const string SelectForwardsStream = $"""
        SELECT {StoredColumns} {FromEvents}
        WHERE e.room_nid = @RoomNid AND {Visible} AND e.stream_ordering > @Stream
          AND (@ToTopo::bigint IS NULL OR (e.topological_ordering, e.stream_ordering) <= (@ToTopo, @ToStream))
          AND (@ToStreamOnly::bigint IS NULL OR e.stream_ordering <= @ToStreamOnly)
        ORDER BY e.topological_ordering, e.stream_ordering LIMIT @Limit
        """;

    // The prev events we hold neither in the timeline nor as rejected (EventMeta.Placed), of the room's oldest timeline
    // events by depth (the index on (room_nid, topological_ordering, stream_ordering); a window rather than one, as a
    // join's prev events may be spread over a few depths): what backfill asks another server for. Run in index order;
    // the few rows are ordered here, not by a sort in the plan (StoredEventQueries.NoSort).
    internal const string SelectBackwardExtremities = """
        SELECT p.prev_event_id AS EventId, min(o.depth) AS Depth
        FROM (SELECT e.event_nid, e.depth FROM events e
              WHERE e.room_nid = @RoomNid AND e.stream_ordering IS NOT NULL AND NOT e.outlier
              ORDER BY e.topological_ordering, e.stream_ordering LIMIT 20) o
        JOIN event_prev_events p ON p.event_nid = o.event_nid
        WHERE NOT EXISTS (SELECT 1 FROM events x WHERE x.event_id = p.prev_event_id AND (NOT x.outlier OR x.rejection_reason IS NOT NULL))
        GROUP BY p.prev_event_id
        """;

    internal const string SelectLatest = $"""
        SELECT {StoredColumns} {FromEvents}
        WHERE e.room_nid = @RoomNid AND {Visible} AND e.stream_ordering > @After AND e.stream_ordering <= @UpTo
        ORDER BY e.stream_ordering DESC LIMIT @Limit
        """;

    internal const string SelectLastAt = $"""
        SELECT {StoredColumns} {FromEvents}
        WHERE e.room_nid = @RoomNid AND e.stream_ordering IS NOT NULL AND e.rejection_reason IS NULL AND e.stream_ordering <= @UpTo
        ORDER BY e.stream_ordering DESC LIMIT 1
        """;

    private const string SelectUserMemberships = """
        SELECT r.room_id AS RoomId, m.room_nid AS RoomNid, r.room_version AS Version, m.membership AS Membership,
               e.event_id AS EventId, m.stream_ordering AS StreamOrdering
        FROM room_memberships m JOIN rooms r ON r.room_nid = m.room_nid JOIN events e ON e.event_nid = m.event_nid
        WHERE m.user_id = @UserId AND NOT m.forgotten
        """;

    private const string SelectRoomsWithEvents = """
        SELECT rn FROM unnest(@RoomNids) AS rn
        WHERE EXISTS (SELECT 1 FROM events e WHERE e.room_nid = rn AND e.stream_ordering > @After AND e.stream_ordering <= @UpTo)
        """;

    private const string SelectMembers = """
        SELECT m.user_id AS UserId, m.membership AS Membership, e.event_id AS EventId
        FROM room_memberships m JOIN events e ON e.event_nid = m.event_nid
        WHERE m.room_nid = @RoomNid
        """;

    private sealed record ExtremityRow(string EventId, long Depth);

    private sealed record MembershipRow(string RoomId, long RoomNid, string Version, string Membership, string EventId, long StreamOrdering);

    public async Task<IReadOnlyList<StoredEvent>> GetStoredEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken ct)
    {
        if (eventIds.Count == 0)
        {
            return [];
        }

        return await QueryAsync(SelectByIds, new { Ids = eventIds.ToArray() }, ct);
    }

    public Task<IReadOnlyList<StoredEvent>> PaginateAsync(long roomNid, PaginationToken from, PaginationToken? to, bool backwards, int limit, CancellationToken ct)
    {
        var byStream = from.Topological is null;
        var sql = (backwards, byStream) switch
        {
            (true, false) => SelectBackwardsTopological,
            (true, true) => SelectBackwardsStream,
            (false, false) => SelectForwardsTopological,
            (false, true) => SelectForwardsStream,
        };
        return QueryAsync(sql, new
        {
            RoomNid = roomNid,
            Topo = from.Topological ?? 0,
            from.Stream,
            ToTopo = to?.Topological,
            ToStream = to?.Stream ?? 0,
            ToStreamOnly = to is { Topological: null } t ? t.Stream : (long?)null,
            Limit = limit,
        },
        ct,
        // A page from a stream-only token filters by stream and is ordered by depth, which no one index serves. The
        // tokens clients page back from are sync's prev_batch, just below the room's newest events: the walk back along
        // the depth index skips the few events after it, where a bitmap fetches and sorts every event of the room before
        // it (StoredEventQueries.NoSort). Forwards from such a token, the walk would skip the whole room before it,
        // and the bitmap fetches only the few after it: that plan is left to PostgreSQL.
        inIndexOrder: backwards || !byStream);
    }

    public async Task<IReadOnlyList<(string EventId, long Depth)>> GetBackwardExtremitiesAsync(long roomNid, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await StoredEventQueries.QueryInIndexOrderAsync<ExtremityRow>(conn, SelectBackwardExtremities, new { RoomNid = roomNid }, ct);
        return rows.OrderByDescending(r => r.Depth).ThenBy(r => r.EventId, StringComparer.Ordinal).Select(r => (r.EventId, r.Depth)).ToList();
    }

    public Task<IReadOnlyList<StoredEvent>> GetLatestEventsAsync(long roomNid, long afterStream, long upToStream, int limit, CancellationToken ct) =>
        QueryAsync(SelectLatest, new { RoomNid = roomNid, After = afterStream, UpTo = upToStream, Limit = limit }, ct, inIndexOrder: true);

    public async Task<StoredEvent?> GetLastEventAtAsync(long roomNid, long upToStream, CancellationToken ct) =>
        (await QueryAsync(SelectLastAt, new { RoomNid = roomNid, UpTo = upToStream }, ct, inIndexOrder: true)).FirstOrDefault();

    public async Task<IReadOnlyList<UserRoomMembership>> GetUserMembershipsAsync(string userId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<MembershipRow>(new CommandDefinition(SelectUserMemberships, new { UserId = userId }, cancellationToken: ct));
        return rows.Select(r => new UserRoomMembership(r.RoomId, r.RoomNid, RoomVersion.Find(r.Version)!, r.Membership, r.EventId, r.StreamOrdering)).ToList();
    }

    public async Task<IReadOnlyCollection<long>> GetRoomsWithEventsAsync(IReadOnlyCollection<long> roomNids, long afterStream, long upToStream, CancellationToken ct)
    {
        if (roomNids.Count == 0 || upToStream <= afterStream)
        {
            return [];
        }

        if (newsTracker.RoomsWrittenAfter(roomNids, afterStream) is { } tracked)
        {
            return tracked;
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<long>(new CommandDefinition(SelectRoomsWithEvents, new { RoomNids = roomNids.ToArray(), After = afterStream, UpTo = upToStream }, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyList<RoomMember>> GetMembersAsync(long roomNid, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<RoomMember>(new CommandDefinition(SelectMembers, new { RoomNid = roomNid }, cancellationToken: ct))).ToList();
    }

    public Task<IReadOnlyDictionary<StateKey, string>> GetStateAsync(long snapshotId, CancellationToken ct) => translator.GetStateAsync(snapshotId, ct);

    public Task<IReadOnlyDictionary<StateKey, string>> GetStateEntriesAsync(long snapshotId, IReadOnlyCollection<StateKey> keys, CancellationToken ct) =>
        translator.GetEntriesAsync(snapshotId, keys, ct);

    private Task<IReadOnlyList<StoredEvent>> QueryAsync(string sql, object args, CancellationToken ct, bool inIndexOrder = false) =>
        StoredEventQueries.QueryAsync(db, sql, args, ct, inIndexOrder);
}
