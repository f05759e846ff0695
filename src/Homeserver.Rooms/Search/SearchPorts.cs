using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Search;

/// <summary>A room to search, and the last stream position the searcher may see in it (their leave, for a room they left).</summary>
public sealed record SearchRoom(long RoomNid, long MaxStream);

/// <summary>One full-text query over <c>event_search</c>.</summary>
public sealed record SearchQuery(
    string Term,
    IReadOnlyList<string> Keys,
    IReadOnlyList<SearchRoom> Rooms,
    IReadOnlyCollection<string>? Senders,
    IReadOnlyCollection<string> NotSenders,
    bool OrderByRank,
    long? BeforeStream,
    int Offset,
    int Limit);

/// <summary>A matching event with its rank and the words PostgreSQL highlighted in it.</summary>
public sealed record SearchHit(StoredEvent Event, double Rank, IReadOnlyList<string> Highlights);

/// <summary>Full-text search over room events (implemented by Homeserver.Storage with PostgreSQL text search).</summary>
public interface ISearchStore
{
    /// <summary>A page of hits (by rank or newest first) and the total number of matching events.</summary>
    Task<(IReadOnlyList<SearchHit> Hits, int Count)> SearchAsync(SearchQuery query, CancellationToken ct);
}

/// <summary>An event's searchable text, for its row in the search index (the event found by its stream position).</summary>
public sealed record SearchRow(long StreamOrdering, string Key, string Text);

/// <summary>A timeline event that may lack its search row (read back after a restart).</summary>
public sealed record UnindexedEvent(long StreamOrdering, string Type, string? StateKey, string Json);

/// <summary>The search index's writes (implemented by Homeserver.Storage), for <see cref="SearchIndexer"/>.</summary>
public interface ISearchIndexStore
{
    /// <summary>The stream position at or below which every deferred search row is written.</summary>
    Task<long> GetIndexedThroughAsync(CancellationToken ct);

    /// <summary>
    /// Writes <paramref name="rows"/> (skipping events redacted meanwhile, and rows already there) and moves the indexed
    /// position up to <paramref name="indexedThrough"/>, in one transaction.
    /// </summary>
    Task IndexAsync(IReadOnlyList<SearchRow> rows, long indexedThrough, CancellationToken ct);

    /// <summary>
    /// Timeline events after <paramref name="after"/> (up to <paramref name="upTo"/>, oldest first, at most
    /// <paramref name="limit"/>) of the searchable types that are accepted, not redacted and have no search row.
    /// </summary>
    Task<IReadOnlyList<UnindexedEvent>> GetUnindexedAsync(long after, long upTo, int limit, CancellationToken ct);
}
