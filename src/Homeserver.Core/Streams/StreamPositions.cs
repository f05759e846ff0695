namespace Homeserver.Core.Streams;

/// <summary>
/// Allocates positions in the server's one global stream (events, account data, receipts, to-device,
/// device lists... all share it) and tracks how far the stream is <em>persisted without gaps</em>.
///
/// Writers reserve a position before their transaction and complete it after commit (or abandon it on
/// rollback). Transactions commit out of order, so a reader must never be told "position 10" while 9 is
/// still in flight: <see cref="Current"/> is the highest position below which nothing is pending, and
/// only that is handed out in sync tokens. Positions live in memory: at start-up the allocator is seeded
/// with the highest position found in the database (one process writes; several processes would
/// need a database sequence and a shared tracker).
///
/// A request that wrote something waits (<see cref="WaitUntilReadableAsync"/>) until its own position is below
/// <see cref="Current"/> before it answers: otherwise a client that reads right after its write (a room's initial sync
/// after a receipt, <c>/messages</c> after a send) could be served a position from before it, while an unrelated
/// write that reserved an earlier position (another room's batch, a presence timeout) is still committing.
/// </summary>
public sealed class StreamPositions
{
    /// <summary>
    /// How long a request waits for its own write to become readable. A transaction before it that takes longer than
    /// this (a stuck connection) would otherwise hold every writer's answer; after it the answer goes out anyway.
    /// </summary>
    public static readonly TimeSpan OwnWriteWait = TimeSpan.FromSeconds(1);

    private readonly object _lock = new();
    private readonly SortedSet<long> _inFlight = [];
    private readonly PriorityQueue<TaskCompletionSource, long> _waiters = new();
    private readonly TimeProvider _time;
    private long _lastAllocated;
    private long _current;

    public StreamPositions(long persistedMax = 0, TimeProvider? time = null)
    {
        _lastAllocated = persistedMax;
        _current = persistedMax;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The highest position such that every position at or below it is persisted or abandoned.</summary>
    public long Current
    {
        get
        {
            lock (_lock)
            {
                return _current;
            }
        }
    }

    /// <summary>Re-seeds after start-up once the database's maximum is known (only moves forward).</summary>
    public void Seed(long persistedMax)
    {
        List<TaskCompletionSource>? reached;
        lock (_lock)
        {
            if (persistedMax > _lastAllocated)
            {
                _lastAllocated = persistedMax;
            }

            if (_inFlight.Count == 0)
            {
                _current = _lastAllocated;
            }

            reached = TakeReachedWaiters();
        }

        Complete(reached);
    }

    /// <summary>Completes once <see cref="Current"/> has reached <paramref name="position"/>.</summary>
    public Task WhenReachedAsync(long position)
    {
        lock (_lock)
        {
            if (_current >= position)
            {
                return Task.CompletedTask;
            }

            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Enqueue(reached, position);
            return reached.Task;
        }
    }

    /// <summary>
    /// Waits (at most <see cref="OwnWriteWait"/>) until a position this request wrote is readable, so that what the
    /// client reads next includes its own change. Nothing to wait for at 0.
    /// </summary>
    public async Task WaitUntilReadableAsync(long position, CancellationToken ct)
    {
        var reached = WhenReachedAsync(position);
        if (reached.IsCompleted)
        {
            return;
        }

        try
        {
            await reached.WaitAsync(OwnWriteWait, _time, ct);
        }
        catch (TimeoutException)
        {
            // Answered anyway: see OwnWriteWait.
        }
    }

    /// <summary>Reserves <paramref name="count"/> consecutive positions; dispose the reservation after commit or rollback.</summary>
    public Reservation Reserve(int count = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        lock (_lock)
        {
            var first = _lastAllocated + 1;
            _lastAllocated += count;
            for (var p = first; p <= _lastAllocated; p++)
            {
                _inFlight.Add(p);
            }

            return new Reservation(this, first, count);
        }
    }

    private void Release(long first, int count)
    {
        List<TaskCompletionSource>? reached;
        lock (_lock)
        {
            for (var p = first; p < first + count; p++)
            {
                _inFlight.Remove(p);
            }

            var newCurrent = _inFlight.Count == 0 ? _lastAllocated : _inFlight.Min - 1;
            if (newCurrent > _current)
            {
                _current = newCurrent;
            }

            reached = TakeReachedWaiters();
        }

        Complete(reached);
    }

    private List<TaskCompletionSource>? TakeReachedWaiters()
    {
        List<TaskCompletionSource>? reached = null;
        while (_waiters.TryPeek(out var waiter, out var position) && position <= _current)
        {
            _waiters.Dequeue();
            (reached ??= []).Add(waiter);
        }

        return reached;
    }

    private static void Complete(List<TaskCompletionSource>? reached)
    {
        foreach (var waiter in reached ?? [])
        {
            waiter.TrySetResult();
        }
    }

    /// <summary>A block of reserved positions. Disposing releases it, whether or not the write committed.</summary>
    public sealed class Reservation : IDisposable
    {
        private readonly StreamPositions _owner;
        private bool _released;

        internal Reservation(StreamPositions owner, long first, int count)
        {
            _owner = owner;
            First = first;
            Count = count;
        }

        public long First { get; }

        public int Count { get; }

        public long Last => First + Count - 1;

        public void Dispose()
        {
            if (!_released)
            {
                _released = true;
                _owner.Release(First, Count);
            }
        }
    }
}
