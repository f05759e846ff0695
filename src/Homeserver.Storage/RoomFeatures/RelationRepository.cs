using Dapper;
using Homeserver.Core.Streams;
using Homeserver.Rooms.Persistence;
using Npgsql;

namespace Homeserver.Storage.RoomFeatures;

/// <summary>Reads of <c>event_relations</c> (0006_rooms.sql): aggregations, /relations pages and thread lists.</summary>
internal sealed class RelationRepository(NpgsqlDataSource db) : IRelationStore
{
    private const string VisibleX = "x.stream_ordering IS NOT NULL AND NOT x.outlier AND x.rejection_reason IS NULL AND NOT x.soft_failed";

    // One query for a page: the latest valid edit of each event (same sender, type and room as the original,
    // latest by origin_server_ts then event ID, as Synapse), thread summaries, and references.
    private const string SelectAggregations = $"""
        (SELECT DISTINCT ON (r.relates_to_id) 'e' AS Kind, r.relates_to_id AS ParentId, x.event_id AS EventId, 0 AS Count, false AS Participated, 0::bigint AS Stream
         FROM event_relations r
         JOIN events x ON x.event_nid = r.event_nid
         JOIN events p ON p.event_id = r.relates_to_id
         WHERE r.relates_to_id = ANY(@Ids) AND r.rel_type = 'm.replace' AND {VisibleX} AND x.redacted_by IS NULL
           AND x.sender = p.sender AND x.event_type = p.event_type AND x.room_nid = p.room_nid
         ORDER BY r.relates_to_id, x.origin_server_ts DESC, x.event_id DESC)
        UNION ALL
        (SELECT 't', r.relates_to_id,
                (array_agg(x.event_id ORDER BY x.topological_ordering DESC, x.stream_ordering DESC))[1],
                count(*)::int,
                COALESCE(bool_or(x.sender = @UserId), false) OR COALESCE(bool_or(p.sender = @UserId), false),
                0::bigint
         FROM event_relations r
         JOIN events x ON x.event_nid = r.event_nid
         LEFT JOIN events p ON p.event_id = r.relates_to_id
         WHERE r.relates_to_id = ANY(@Ids) AND r.rel_type = 'm.thread' AND {VisibleX}
         GROUP BY r.relates_to_id)
        UNION ALL
        (SELECT 'r', r.relates_to_id, x.event_id, 0, false, x.stream_ordering
         FROM event_relations r
         JOIN events x ON x.event_nid = r.event_nid
         WHERE r.relates_to_id = ANY(@Ids) AND r.rel_type = 'm.reference' AND {VisibleX})
        """;

    // Relations of an event, and (recursing) of those, up to a depth; then filtered by relation type and event type.
    private const string RelatedCte = """
        WITH RECURSIVE related (event_nid, depth) AS (
            SELECT r.event_nid, 1 FROM event_relations r WHERE r.relates_to_id = @ParentId AND r.room_nid = @RoomNid
            UNION
            SELECT r.event_nid, related.depth + 1
            FROM related
            JOIN events pe ON pe.event_nid = related.event_nid
            JOIN event_relations r ON r.relates_to_id = pe.event_id AND r.room_nid = @RoomNid
            WHERE related.depth < @MaxDepth
        )
        """;

    private const string RelatedFilter = """
        WHERE (@RelType::text IS NULL OR rel.rel_type = @RelType) AND (@EventType::text IS NULL OR e.event_type = @EventType)
        """;

    private const string SelectRelationsBackwards = $"""
        {RelatedCte}
        SELECT DISTINCT ON (e.topological_ordering, e.stream_ordering) {StoredEventQueries.Columns}
        FROM related JOIN events e ON e.event_nid = related.event_nid JOIN event_relations rel ON rel.event_nid = e.event_nid
        {StoredEventQueries.Joins}
        {RelatedFilter} AND {StoredEventQueries.Visible}
          AND (@FromTopo::bigint IS NULL OR (e.topological_ordering, e.stream_ordering) < (@FromTopo, @FromStream))
          AND (@FromStreamOnly::bigint IS NULL OR e.stream_ordering <= @FromStreamOnly)
          AND (@ToTopo::bigint IS NULL OR (e.topological_ordering, e.stream_ordering) > (@ToTopo, @ToStream))
          AND (@ToStreamOnly::bigint IS NULL OR e.stream_ordering > @ToStreamOnly)
        ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT @Limit
        """;

    private const string SelectRelationsForwards = $"""
        {RelatedCte}
        SELECT DISTINCT ON (e.topological_ordering, e.stream_ordering) {StoredEventQueries.Columns}
        FROM related JOIN events e ON e.event_nid = related.event_nid JOIN event_relations rel ON rel.event_nid = e.event_nid
        {StoredEventQueries.Joins}
        {RelatedFilter} AND {StoredEventQueries.Visible}
          AND (@FromTopo::bigint IS NULL OR (e.topological_ordering, e.stream_ordering) > (@FromTopo, @FromStream))
          AND (@FromStreamOnly::bigint IS NULL OR e.stream_ordering > @FromStreamOnly)
          AND (@ToTopo::bigint IS NULL OR (e.topological_ordering, e.stream_ordering) <= (@ToTopo, @ToStream))
          AND (@ToStreamOnly::bigint IS NULL OR e.stream_ordering <= @ToStreamOnly)
        ORDER BY e.topological_ordering, e.stream_ordering LIMIT @Limit
        """;

    // A room's threads by their latest reply, newest first (0018_threads.sql: the next rows of an index in its order,
    // whatever the room's size), of roots held in the room.
    internal const string SelectThreads = """
        SELECT t.thread_id AS RootEventId, t.topological_ordering AS Topo, t.stream_ordering AS Stream
        FROM threads t
        JOIN events p ON p.event_id = t.thread_id AND p.room_nid = t.room_nid
        WHERE t.room_nid = @RoomNid
          AND (@BeforeTopo::bigint IS NULL OR (t.topological_ordering, t.stream_ordering) < (@BeforeTopo, @BeforeStream))
        ORDER BY t.topological_ordering DESC, t.stream_ordering DESC LIMIT @Limit
        """;

    // The threads a user took part in (0020_thread_participants.sql), in the same order: the user's own rows of the
    // room, each with its thread, sorted. A user takes part in few of a room's threads as a rule; walking the room's
    // threads in order and keeping the user's would read them all for a user in none.
    internal const string SelectParticipatedThreads = """
        SELECT t.thread_id AS RootEventId, t.topological_ordering AS Topo, t.stream_ordering AS Stream
        FROM thread_participants tp
        JOIN threads t ON t.room_nid = tp.room_nid AND t.thread_id = tp.thread_id
        JOIN events p ON p.event_id = t.thread_id AND p.room_nid = t.room_nid
        WHERE tp.room_nid = @RoomNid AND tp.user_id = @Participant
          AND (@BeforeTopo::bigint IS NULL OR (t.topological_ordering, t.stream_ordering) < (@BeforeTopo, @BeforeStream))
        ORDER BY t.topological_ordering DESC, t.stream_ordering DESC LIMIT @Limit
        """;

    private sealed record AggregationRow(string Kind, string ParentId, string EventId, int Count, bool Participated, long Stream);

    private sealed record ThreadRow(string RootEventId, long Topo, long Stream);

    public async Task<IReadOnlyDictionary<string, EventAggregations>> GetAggregationsAsync(IReadOnlyCollection<string> eventIds, string? userId, CancellationToken ct)
    {
        var result = new Dictionary<string, EventAggregations>(StringComparer.Ordinal);
        if (eventIds.Count == 0)
        {
            return result;
        }

        List<AggregationRow> rows;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            rows = (await conn.QueryAsync<AggregationRow>(new CommandDefinition(SelectAggregations, new { Ids = eventIds.ToArray(), UserId = userId }, cancellationToken: ct))).ToList();
        }

        foreach (var group in rows.GroupBy(r => r.ParentId, StringComparer.Ordinal))
        {
            string? edit = null;
            ThreadSummary? thread = null;
            var references = new List<string>();
            foreach (var row in group.OrderBy(r => r.Stream))
            {
                switch (row.Kind)
                {
                    case "e":
                        edit = row.EventId;
                        break;
                    case "t":
                        thread = new ThreadSummary(row.Count, row.EventId, row.Participated);
                        break;
                    default:
                        references.Add(row.EventId);
                        break;
                }
            }

            result[group.Key] = new EventAggregations(edit, thread, references);
        }

        return result;
    }

    public Task<IReadOnlyList<StoredEvent>> GetRelationsAsync(
        long roomNid, string parentId, string? relType, string? eventType, PaginationToken? from, PaginationToken? to, bool backwards, int limit, int maxDepth, CancellationToken ct) =>
        StoredEventQueries.QueryAsync(db, backwards ? SelectRelationsBackwards : SelectRelationsForwards, new
        {
            RoomNid = roomNid,
            ParentId = parentId,
            RelType = relType,
            EventType = eventType,
            MaxDepth = Math.Max(1, maxDepth),
            FromTopo = from?.Topological,
            FromStream = from?.Stream ?? 0,
            FromStreamOnly = from is { Topological: null } f ? f.Stream : (long?)null,
            ToTopo = to?.Topological,
            ToStream = to?.Stream ?? 0,
            ToStreamOnly = to is { Topological: null } t ? t.Stream : (long?)null,
            Limit = limit,
        }, ct);

    public async Task<IReadOnlyList<ThreadRoot>> GetThreadsAsync(long roomNid, string? participant, PaginationToken? before, int limit, CancellationToken ct)
    {
        var args = new
        {
            RoomNid = roomNid,
            Participant = participant,
            BeforeTopo = before?.Topological,
            BeforeStream = before?.Stream ?? 0,
            Limit = limit,
        };
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = participant is null
            ? await StoredEventQueries.QueryInIndexOrderAsync<ThreadRow>(conn, SelectThreads, args, ct)
            : await conn.QueryAsync<ThreadRow>(new CommandDefinition(SelectParticipatedThreads, args, cancellationToken: ct));
        return rows.Select(r => new ThreadRoot(r.RootEventId, new PaginationToken(r.Topo, r.Stream))).ToList();
    }
}
