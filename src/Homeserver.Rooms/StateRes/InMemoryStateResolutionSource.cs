namespace Homeserver.Rooms.StateRes;

/// <summary>An <see cref="IStateResolutionSource"/> over events held in memory (tests, events not yet persisted).</summary>
public sealed class InMemoryStateResolutionSource : IStateResolutionSource
{
    private readonly Dictionary<string, Pdu> events = new(StringComparer.Ordinal);
    private readonly HashSet<string> rejected = new(StringComparer.Ordinal);

    public InMemoryStateResolutionSource(IEnumerable<Pdu> events, IEnumerable<string>? rejected = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        foreach (var ev in events)
        {
            this.events[ev.EventId] = ev;
        }

        if (rejected is not null)
        {
            this.rejected.UnionWith(rejected);
        }
    }

    /// <summary>How many batch look-ups were made (for tests of batching).</summary>
    public int BatchCalls { get; private set; }

    public ValueTask<IReadOnlyDictionary<string, Pdu>> GetEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(eventIds);
        cancellationToken.ThrowIfCancellationRequested();
        BatchCalls++;
        var result = new Dictionary<string, Pdu>(eventIds.Count, StringComparer.Ordinal);
        foreach (var id in eventIds)
        {
            if (events.TryGetValue(id, out var ev))
            {
                result[id] = ev;
            }
        }

        return ValueTask.FromResult<IReadOnlyDictionary<string, Pdu>>(result);
    }

    public ValueTask<IReadOnlySet<string>> GetRejectedAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(eventIds);
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in eventIds)
        {
            if (rejected.Contains(id))
            {
                result.Add(id);
            }
        }

        return ValueTask.FromResult<IReadOnlySet<string>>(result);
    }
}
