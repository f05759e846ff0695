using System.Data.Common;
using System.Diagnostics;
using System.Threading.Channels;
using Homeserver.Core.Streams;
using Microsoft.Extensions.Logging;

namespace Homeserver.Rooms.Writing;

/// <summary>
/// A background consumer of committed room events that works after the commit, in memory, and records in the database
/// how far it is done, so that after a crash it does again only what comes after that position (the search indexer,
/// the notification evaluator).
///
/// - A subclass is a room commit listener (<see cref="IRoomCommitListener"/>): the writer tells it of a batch before the
///   batch's stream positions become readable, and it queues the work with <see cref="Enqueue"/>. So every event at or
///   below the stream's current position is either pending here or done, and <see cref="DoneThrough"/> (below the lowest
///   pending event, never past the current position) is safe to record.
/// - <see cref="RunAsync"/> first runs the subclass's recovery (retried until it succeeds: the live work waits behind it,
///   as the position may only move once the events before it are done), then stores what is queued, at most once per
///   store interval under load (everything queued meanwhile in one transaction).
/// - While nothing comes, the position follows the stream once per <see cref="IdleInterval"/>: events the consumer has
///   nothing to do for (other servers' events for the indexer) and the stream's other writes (receipts, account data)
///   would otherwise leave it far behind, and the recovery would scan everything since.
/// - Readers wait (<see cref="WaitForAsync"/>) until what they are about to read is done.
/// - A store that fails is tried again (<see cref="StoreWithRetriesAsync"/>): for as long as the database is unavailable,
///   and a few times for any other reason.
/// </summary>
public abstract class RecordingCommitConsumer<TItem>
{
    /// <summary>How often the recorded position follows the stream while nothing comes (one one-row update each time).</summary>
    public static readonly TimeSpan IdleInterval = TimeSpan.FromSeconds(2);

    protected static readonly IReadOnlySet<long> NoPositions = new HashSet<long>();

    /// <summary>How often a store that fails for a reason of its own (not the database's) is tried before it is given up.</summary>
    public const int MaxAttempts = 3;

    /// <summary>The longest wait between two tries of a store while the database is unavailable.</summary>
    public static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan RecoveryRetryDelay = TimeSpan.FromSeconds(5);

    private readonly Channel<TItem> _queue = Channel.CreateUnbounded<TItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly PendingPositions _pending;
    private readonly StreamPositions _streams;
    private readonly TimeSpan _storeInterval;
    private readonly ILogger _logger;
    private readonly TimeSpan _firstRetryDelay;

    /// <param name="firstRetryDelay">The wait before a failed store is tried again (doubled each time); 1 s unless given.</param>
    protected RecordingCommitConsumer(StreamPositions streams, TimeProvider time, TimeSpan storeInterval, ILogger logger, TimeSpan? firstRetryDelay = null)
    {
        _streams = streams;
        _pending = new PendingPositions(time);
        _storeInterval = storeInterval;
        _logger = logger;
        _firstRetryDelay = firstRetryDelay ?? TimeSpan.FromSeconds(1);
    }

    /// <summary>Events queued whose work is not stored yet.</summary>
    public int PendingEvents => _pending.Count;

    /// <summary>The position last recorded. Only the run loop (recovery and stores) touches it.</summary>
    protected long Recorded { get; set; }

    /// <summary>The stream's current position.</summary>
    protected long StreamCurrent => _streams.Current;

    /// <summary>
    /// Waits until every queued event at or below <paramref name="upToStream"/> is done, at most <paramref name="timeout"/>
    /// (the reader then goes on with what there is).
    /// </summary>
    public Task WaitForAsync(long upToStream, TimeSpan timeout, CancellationToken ct) => _pending.WaitUntilDoneAsync(upToStream, timeout, ct);

    /// <summary>Does again what a stop left out, then the queued work, until <paramref name="ct"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            while (true)
            {
                try
                {
                    await RecoverAsync(ct);
                    break;
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    CommitConsumerLog.RecoveryFailed(_logger, e, GetType().Name);
                    await Task.Delay(RecoveryRetryDelay, ct);
                }
            }

            await StoreQueuedUntilCancelledAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Shutting down: what is still queued is done by the recovery at the next start.
        }
    }

    /// <summary>Queues work for events at <paramref name="positions"/> (on the room's writer: must return quickly).</summary>
    protected void Enqueue(TItem item, IEnumerable<long> positions)
    {
        _pending.Add(positions);
        _queue.Writer.TryWrite(item);
    }

    protected bool TryDequeue(out TItem item) => _queue.Reader.TryRead(out item!);

    /// <summary>Marks the events at <paramref name="positions"/> done and wakes the readers waiting for them.</summary>
    protected void Release(IEnumerable<long> positions) => _pending.Remove(positions);

    /// <summary>The position to record with the work of the events at <paramref name="storing"/>.</summary>
    protected long DoneThrough(IReadOnlySet<long> storing) => _pending.DoneThrough(_streams, storing);

    /// <summary>
    /// Runs <paramref name="store"/> until it succeeds (returns null) or is given up (returns the failure). A failure the
    /// database reports as transient (restarting, unreachable, out of connections: <see cref="DbException.IsTransient"/>)
    /// or a timeout is tried again for as long as it lasts, waiting twice as long each time up to
    /// <see cref="MaxRetryDelay"/>: every later store would fail the same way, and giving up would lose the work for good
    /// (the next store's position passes it). Any other failure (something in the work itself) is tried
    /// <see cref="MaxAttempts"/> times in all and then given up, so that it cannot hold every later store. The work stays
    /// pending meanwhile: readers wait for it, bounded. Once <paramref name="ct"/> is cancelled, a failure ends it with
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    protected async Task<Exception?> StoreWithRetriesAsync(Func<CancellationToken, Task> store, CancellationToken ct)
    {
        var delay = _firstRetryDelay;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await store(ct);
                return null;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                var transient = IsTransient(e);
                if (!transient && attempt >= MaxAttempts)
                {
                    return e;
                }

                CommitConsumerLog.StoreFailed(_logger, e, GetType().Name, attempt, transient ? "the database is unavailable" : "trying again");
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Stopping (the store failed as the connections were closed, say): the recovery at the next start does it.
                throw new OperationCanceledException("stopped while storing", e, ct);
            }
        }
    }

    private static bool IsTransient(Exception e) => e switch
    {
        DbException db => db.IsTransient,
        TimeoutException => true,
        _ => e.InnerException is { } inner && IsTransient(inner),
    };

    /// <summary>Finds and does the work a stop left out, recording the position as it goes.</summary>
    protected abstract Task RecoverAsync(CancellationToken ct);

    /// <summary>Takes the queued work (<see cref="TryDequeue"/>), stores it with the position and releases it. Handles its own failures.</summary>
    protected abstract Task StoreQueuedAsync(CancellationToken ct);

    /// <summary>Records the position alone.</summary>
    protected abstract Task RecordAsync(long through, CancellationToken ct);

    private async Task StoreQueuedUntilCancelledAsync(CancellationToken ct)
    {
        var lastStore = 0L;

        // One idle tick at a time, kept across waits: under load the queue is waited for every few milliseconds, and a
        // timer each time would pile up.
        Task? idleTick = null;
        while (true)
        {
            var ready = _queue.Reader.WaitToReadAsync(ct);
            if (!ready.IsCompleted)
            {
                var waiting = ready.AsTask();
                while (true)
                {
                    // Real time, as the pacing below: these waits pace database writes, whatever clock the server's
                    // logic runs on (a test's manual clock would hold them).
                    idleTick ??= Task.Delay(IdleInterval, ct);
                    if (await Task.WhenAny(waiting, idleTick) == waiting)
                    {
                        break;
                    }

                    idleTick = null;
                    ct.ThrowIfCancellationRequested();
                    await RecordWhileIdleAsync(ct);
                }

                ready = new ValueTask<bool>(waiting);
            }

            if (!await ready)
            {
                return;
            }

            var sinceLast = Stopwatch.GetElapsedTime(lastStore);
            if (sinceLast < _storeInterval)
            {
                await Task.Delay(_storeInterval - sinceLast, ct);
            }

            lastStore = Stopwatch.GetTimestamp();
            await StoreQueuedAsync(ct);
        }
    }

    private async Task RecordWhileIdleAsync(CancellationToken ct)
    {
        var through = DoneThrough(NoPositions);
        if (through <= Recorded)
        {
            return;
        }

        try
        {
            await RecordAsync(through, ct);
            Recorded = through;
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // Tried again at the next tick; meanwhile a recovery would merely start further back.
            CommitConsumerLog.RecordFailed(_logger, e, GetType().Name);
        }
    }
}

/// <summary>The log lines of <see cref="RecordingCommitConsumer{TItem}"/> (the generator does not take generic classes).</summary>
internal static partial class CommitConsumerLog
{
    [LoggerMessage(Level = LogLevel.Error, Message = "{Consumer}: recovery after the last stop failed; trying again")]
    public static partial void RecoveryFailed(ILogger logger, Exception e, string consumer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Consumer}: recording its position failed; trying again later")]
    public static partial void RecordFailed(ILogger logger, Exception e, string consumer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Consumer}: storing failed (attempt {Attempt}); {Outlook}")]
    public static partial void StoreFailed(ILogger logger, Exception e, string consumer, int attempt, string outlook);
}
