using Dapper;
using Homeserver.Rooms.Search;
using Npgsql;

namespace Homeserver.Storage.RoomFeatures;

/// <summary>The search indexer's writes to <c>event_search</c> and <c>search_index_position</c> (0014).</summary>
internal sealed class SearchIndexRepository(NpgsqlDataSource db) : ISearchIndexStore
{
    // Rows and position in one implicit transaction (one statement batch). Its commit does not wait for the WAL flush:
    // a transaction lost in a crash is redone by the indexer's recovery from the position recorded before it.
    private const string AsynchronousCommit = "SELECT set_config('synchronous_commit', 'off', true)";

    // The events are found by their stream position, each with one lookup in its unique index: the LIMIT keeps the
    // planner from turning the lookups into a join, whose generic plan (an unnest of a parameter counts as 100 rows)
    // hashed a sequential scan of all of events, 0.9 ms per call in a benchmark room of a few thousand events and
    // growing with the table. One redacted meanwhile is left out: its redaction deleted the row it would have had.
    private const string InsertRows = """
        INSERT INTO event_search (event_nid, room_nid, search_key, vector)
        SELECT e.event_nid, e.room_nid, u.k, to_tsvector('english', u.t)
        FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (so, k, t)
        CROSS JOIN LATERAL (SELECT event_nid, room_nid, redacted_by FROM events WHERE stream_ordering = u.so LIMIT 1) AS e
        WHERE e.redacted_by IS NULL
        ON CONFLICT DO NOTHING
        """;

    private const string MovePosition = """
        UPDATE search_index_position SET stream_ordering = GREATEST(stream_ordering, $1)
        """;

    private const string SelectPosition = "SELECT stream_ordering FROM search_index_position";

    private const string SelectUnindexed = """
        SELECT e.stream_ordering AS StreamOrdering, e.event_type AS Type, e.state_key AS StateKey, e.json AS Json
        FROM events e
        WHERE e.stream_ordering > @After AND e.stream_ordering <= @UpTo
          AND e.event_type IN ('m.room.message', 'm.room.name', 'm.room.topic')
          AND NOT e.outlier AND e.rejection_reason IS NULL AND e.redacted_by IS NULL
          AND NOT EXISTS (SELECT 1 FROM event_search s WHERE s.event_nid = e.event_nid)
        ORDER BY e.stream_ordering
        LIMIT @Limit
        """;

    public async Task<long> GetIndexedThroughAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<long>(new CommandDefinition(SelectPosition, cancellationToken: ct));
    }

    public async Task IndexAsync(IReadOnlyList<SearchRow> rows, long indexedThrough, CancellationToken ct)
    {
        var streams = new long[rows.Count];
        var keys = new string[rows.Count];
        var texts = new string[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            (streams[i], keys[i], texts[i]) = (rows[i].StreamOrdering, rows[i].Key, rows[i].Text);
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var batch = new NpgsqlBatch(conn);
        batch.BatchCommands.Add(new NpgsqlBatchCommand(AsynchronousCommit));
        if (rows.Count > 0)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(InsertRows) { Parameters = { new() { Value = streams }, new() { Value = keys }, new() { Value = texts } } });
        }

        batch.BatchCommands.Add(new NpgsqlBatchCommand(MovePosition) { Parameters = { new() { Value = indexedThrough } } });
        await batch.ExecuteNonQueryAsync(ct);
    }

    public async Task<IReadOnlyList<UnindexedEvent>> GetUnindexedAsync(long after, long upTo, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<UnindexedRow>(new CommandDefinition(SelectUnindexed, new { After = after, UpTo = upTo, Limit = limit }, cancellationToken: ct));
        return rows.Select(r => new UnindexedEvent(r.StreamOrdering, r.Type, r.StateKey, r.Json)).ToList();
    }

    private sealed class UnindexedRow
    {
        public long StreamOrdering { get; init; }

        public string Type { get; init; } = string.Empty;

        public string? StateKey { get; init; }

        public string Json { get; init; } = string.Empty;
    }
}
