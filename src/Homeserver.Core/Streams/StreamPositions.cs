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
/// </summary>
public sealed class StreamPositions
{
    private readonly object _lock = new();
    private readonly SortedSet<long> _inFlight = [];
    private long _lastAllocated;
    private long _current;

    public StreamPositions(long persistedMax = 0)
    {
        _lastAllocated = persistedMax;
        _current = persistedMax;
    }

    /// <summary>Raised (outside the lock) with the new <see cref="Current"/> whenever it advances.</summary>
    public event Action<long>? Advanced;

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
        long? advancedTo = null;
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
                advancedTo = newCurrent;
            }
        }

        if (advancedTo is { } value)
        {
            Advanced?.Invoke(value);
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
