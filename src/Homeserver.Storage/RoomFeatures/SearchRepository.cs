using Dapper;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Search;
using Npgsql;

namespace Homeserver.Storage.RoomFeatures;

/// <summary>
/// PostgreSQL full-text search over <c>event_search</c> (0006_rooms.sql): <c>websearch_to_tsquery('english', …)</c>
/// (quoted phrases, <c>or</c>, <c>-word</c>), ranked with <c>ts_rank_cd</c>, highlights from <c>ts_headline</c> on the
/// page's events only.
/// </summary>
internal sealed class SearchRepository(NpgsqlDataSource db) : ISearchStore
{
    // Markers around highlighted words; control characters never appear in what ts_headline is asked to mark up.
    private const string HeadlineOptions = "StartSel=\u0001, StopSel=\u0002, HighlightAll=TRUE";

    private const string Matching = $"""
        FROM event_search s
        CROSS JOIN websearch_to_tsquery('english', @Term) q
        JOIN unnest(@RoomNids, @MaxStreams) AS ur (room_nid, max_stream) ON ur.room_nid = s.room_nid
        JOIN events e ON e.event_nid = s.event_nid
        {StoredEventQueries.Joins}
        WHERE s.vector @@ q AND s.search_key = ANY(@Keys) AND {StoredEventQueries.Visible} AND e.stream_ordering <= ur.max_stream
          AND e.redacted_by IS NULL
          AND (@Senders::text[] IS NULL OR e.sender = ANY(@Senders)) AND NOT (e.sender = ANY(@NotSenders))
        """;

    private const string SelectCount = $"SELECT count(*)::int {Matching}";

    private const string HitColumns = $"""
        {StoredEventQueries.Columns}, ts_rank_cd(s.vector, q) AS Rank,
        ts_headline('english', e.json::jsonb -> 'content' ->> substring(s.search_key from 9), q, @HeadlineOptions) AS Headline
        """;

    private const string SelectRecent = $"""
        SELECT {HitColumns} {Matching}
          AND (@BeforeStream::bigint IS NULL OR e.stream_ordering < @BeforeStream)
        ORDER BY e.stream_ordering DESC LIMIT @Limit
        """;

    private const string SelectRanked = $"""
        SELECT {HitColumns} {Matching}
        ORDER BY Rank DESC, e.stream_ordering DESC OFFSET @Offset LIMIT @Limit
        """;

    public async Task<(IReadOnlyList<SearchHit> Hits, int Count)> SearchAsync(SearchQuery query, CancellationToken ct)
    {
        if (query.Rooms.Count == 0 || string.IsNullOrWhiteSpace(query.Term))
        {
            return ([], 0);
        }

        var args = new
        {
            query.Term,
            RoomNids = query.Rooms.Select(r => r.RoomNid).ToArray(),
            MaxStreams = query.Rooms.Select(r => r.MaxStream).ToArray(),
            Keys = query.Keys.ToArray(),
            Senders = query.Senders?.ToArray(),
            NotSenders = query.NotSenders.ToArray(),
            query.BeforeStream,
            query.Offset,
            query.Limit,
            HeadlineOptions,
        };

        await using var conn = await db.OpenConnectionAsync(ct);
        var count = await conn.ExecuteScalarAsync<int>(new CommandDefinition(SelectCount, args, cancellationToken: ct));
        var rows = (await conn.QueryAsync<HitRow>(new CommandDefinition(query.OrderByRank ? SelectRanked : SelectRecent, args, cancellationToken: ct))).ToList();
        var stored = StoredEventQueries.Map(rows.Select(r => r.Stored).ToList());
        var hits = new List<SearchHit>(rows.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            hits.Add(new SearchHit(stored[i], rows[i].Rank, Highlights(rows[i].Headline)));
        }

        return (hits, count);
    }

    private static List<string> Highlights(string? headline)
    {
        var words = new List<string>();
        if (headline is null)
        {
            return words;
        }

        var at = 0;
        while ((at = headline.IndexOf('\u0001', at)) >= 0)
        {
            var end = headline.IndexOf('\u0002', at + 1);
            if (end < 0)
            {
                break;
            }

            words.Add(headline[(at + 1)..end]);
            at = end + 1;
        }

        return words;
    }

    private sealed class HitRow
    {
        public string EventId { get; init; } = string.Empty;

        public string Json { get; init; } = string.Empty;

        public string Version { get; init; } = string.Empty;

        public long? StreamOrdering { get; init; }

        public long TopologicalOrdering { get; init; }

        public string? RedactedBy { get; init; }

        public long? StateBefore { get; init; }

        public long? StateAfter { get; init; }

        public string? TxnUser { get; init; }

        public string? TxnDevice { get; init; }

        public string? TxnId { get; init; }

        public float Rank { get; init; }

        public string? Headline { get; init; }

        public StoredEventQueries.Row Stored => new(EventId, Json, Version, StreamOrdering, TopologicalOrdering, RedactedBy, StateBefore, StateAfter, TxnUser, TxnDevice, TxnId);
    }
}
