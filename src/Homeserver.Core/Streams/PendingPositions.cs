namespace Homeserver.Core.Streams;

/// <summary>
/// Stream positions handed to a background consumer (push evaluation, the search index) and not yet done with, so that
/// a reader can wait until what it is about to read is complete (<see cref="WaitUntilDoneAsync"/>).
/// </summary>
public sealed class PendingPositions(TimeProvider time)
{
    private readonly object _lock = new();
    private readonly SortedSet<long> _pending = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    public void Add(IEnumerable<long> positions)
    {
        lock (_lock)
        {
            foreach (var position in positions)
            {
                _pending.Add(position);
            }
        }
    }

    /// <summary>Marks <paramref name="positions"/> done and wakes the waiters.</summary>
    public void Remove(IEnumerable<long> positions)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            foreach (var position in positions)
            {
                _pending.Remove(position);
            }

            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    /// <summary>The lowest pending position not in <paramref name="except"/>; <see cref="long.MaxValue"/> if there is none.</summary>
    public long LowestExcept(IReadOnlySet<long> except)
    {
        lock (_lock)
        {
            foreach (var position in _pending)
            {
                if (!except.Contains(position))
                {
                    return position;
                }
            }

            return long.MaxValue;
        }
    }

    /// <summary>
    /// How far a consumer told of every event before its stream position becomes readable (a room's commit listener) is
    /// done: the highest position at or below the stream's current one with nothing pending below it but
    /// <paramref name="except"/> (what the caller is about to store). The current position is read first, so every event
    /// at or below it was added by then; one added later is above it.
    /// </summary>
    public long DoneThrough(StreamPositions streams, IReadOnlySet<long> except)
    {
        var current = streams.Current;
        return Math.Min(current, LowestExcept(except) - 1);
    }

    /// <summary>
    /// Waits until no position at or below <paramref name="upTo"/> is pending, at most <paramref name="timeout"/> (the
    /// reader then goes on with what there is).
    /// </summary>
    public async Task WaitUntilDoneAsync(long upTo, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            Task signal;
            lock (_lock)
            {
                if (_pending.Count == 0 || _pending.Min > upTo)
                {
                    return;
                }

                signal = _changed.Task;
            }

            var remaining = deadline - time.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                return;
            }

            await Task.WhenAny(signal, Task.Delay(remaining, time, ct));
            ct.ThrowIfCancellationRequested();
        }
    }
}
