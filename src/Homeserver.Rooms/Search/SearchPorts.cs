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
