using System.Text.Json;
using Homeserver.Core.Streams;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;
using Microsoft.Extensions.Logging;

namespace Homeserver.Rooms.Search;

/// <summary>
/// Writes the search rows of the events this server's room writers create, after their batch is committed, so that the
/// full-text index (a GIN index, and to_tsvector of every message) is not on the room's serial path: with 8 senders in
/// one room, leaving the rows out of the writer's statement took 35 µs per send off it (ROOMS.md). Events from other
/// servers and backfill keep writing their rows with the event.
///
/// Correctness (see <see cref="RecordingCommitConsumer{TItem}"/> for the recorded position):
/// - A search waits (<see cref="RecordingCommitConsumer{TItem}.WaitForAsync"/>) until every event queued at or below
///   the stream position it reads is indexed, so a client finds its own message right after sending it.
/// - The store records how far everything is indexed (<see cref="ISearchIndexStore.IndexAsync"/>, in the rows'
///   transaction). After a crash, the recovery indexes the events after it that lack rows.
/// - Those transactions may commit without waiting for their WAL flush: one lost in a crash is redone by that recovery.
/// - A redaction deletes the row of its target in its own statement, and the indexer skips events redacted before it
///   writes; a search also ignores redacted events, so the one race left (a redaction committing while the indexer
///   writes its target's row) leaves a row no search returns.
/// </summary>
public sealed partial class SearchIndexer(ISearchIndexStore store, StreamPositions streams, TimeProvider time, ILogger<SearchIndexer> logger)
    : RecordingCommitConsumer<List<SearchRow>>(streams, time, StoreInterval, logger), IRoomCommitListener
{
    /// <summary>The shortest time between two writes under load (everything queued meanwhile goes in one transaction).</summary>
    private static readonly TimeSpan StoreInterval = TimeSpan.FromMilliseconds(20);

    private const int MaxRowsPerStore = 5_000;

    private const int RecoveryPage = 500;

    /// <summary>
    /// Called on the room's writer after each committed batch, before its positions are released: queues the rows of a
    /// batch written without them.
    /// </summary>
    public void OnCommitted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head, bool searchDeferred)
    {
        if (!searchDeferred)
        {
            return;
        }

        List<SearchRow>? rows = null;
        foreach (var e in events)
        {
            if (e.StreamOrdering is { } position && SearchableText.Of(e.Event) is { } text)
            {
                (rows ??= []).Add(new SearchRow(position, text.Key, text.Text));
            }
        }

        if (rows is not null)
        {
            Enqueue(rows, rows.Select(r => r.StreamOrdering));
        }
    }

    protected override async Task StoreQueuedAsync(CancellationToken ct)
    {
        var rows = new List<SearchRow>();
        while (rows.Count < MaxRowsPerStore && TryDequeue(out var more))
        {
            rows.AddRange(more);
        }

        var through = DoneThrough(rows.Select(r => r.StreamOrdering).ToHashSet());
        if (await StoreWithRetriesAsync(c => store.IndexAsync(rows, through, c), ct) is { } failure)
        {
            // Something in the rows themselves: they are given up (the events are stored; only their search rows are
            // missing) rather than holding every later row.
            LogIndexGivenUp(failure, rows.Count);
        }
        else
        {
            Recorded = Math.Max(Recorded, through);
        }

        Release(rows.Select(r => r.StreamOrdering));
    }

    protected override Task RecordAsync(long through, CancellationToken ct) => store.IndexAsync([], through, ct);

    /// <summary>
    /// Indexes the events after the recorded position that have no row (those whose rows were queued when the server
    /// stopped), page by page, up to the stream's position at start-up.
    /// </summary>
    protected override async Task RecoverAsync(CancellationToken ct)
    {
        var after = Recorded = await store.GetIndexedThroughAsync(ct);
        var upTo = StreamCurrent;
        var recovered = 0;
        while (after < upTo)
        {
            var events = await store.GetUnindexedAsync(after, upTo, RecoveryPage, ct);
            var rows = new List<SearchRow>(events.Count);
            foreach (var e in events)
            {
                using var json = JsonDocument.Parse(e.Json);
                if (json.RootElement.TryGetProperty("content", out var content) && SearchableText.Of(e.Type, e.StateKey, content) is { } text)
                {
                    rows.Add(new SearchRow(e.StreamOrdering, text.Key, text.Text));
                }
            }

            var through = events.Count < RecoveryPage ? upTo : events[^1].StreamOrdering;

            // Events queued meanwhile (sent since start-up) are above upTo; the recorded position never passes one.
            through = Math.Max(after, Math.Min(through, DoneThrough(NoPositions)));
            await store.IndexAsync(rows, through, ct);
            Recorded = through;
            recovered += rows.Count;
            if (events.Count < RecoveryPage)
            {
                break;
            }

            after = events[^1].StreamOrdering;
            LogRecovering(recovered, after, upTo);
        }

        if (recovered > 0)
        {
            LogRecovered(recovered);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing {Rows} search rows failed repeatedly; their events will not be found by search")]
    private partial void LogIndexGivenUp(Exception e, int rows);

    [LoggerMessage(Level = LogLevel.Information, Message = "Search index recovery: {Rows} rows written, at stream position {Position} of {Target}")]
    private partial void LogRecovering(int rows, long position, long target);

    [LoggerMessage(Level = LogLevel.Information, Message = "Search index recovery done: {Rows} rows written for events a stop left out")]
    private partial void LogRecovered(int rows);
}
