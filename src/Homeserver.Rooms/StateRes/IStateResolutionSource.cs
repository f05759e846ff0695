namespace Homeserver.Rooms.StateRes;

/// <summary>
/// Where state resolution reads events from. The storage layer implements it over the database (batching the
/// look-ups); <see cref="InMemoryStateResolutionSource"/> serves events held in memory.
/// Resolution only asks for events reachable from the state sets through <c>auth_events</c>.
/// </summary>
public interface IStateResolutionSource
{
    /// <summary>Fetches events by ID, rejected ones included. IDs the source does not know are left out of the result.</summary>
    ValueTask<IReadOnlyDictionary<string, Pdu>> GetEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken);

    /// <summary>Of <paramref name="eventIds"/>, the ones that were rejected ("Rejection" in the server-server API).</summary>
    ValueTask<IReadOnlySet<string>> GetRejectedAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken);

    /// <summary>Fetches one event, or null if unknown.</summary>
    async ValueTask<Pdu?> GetEventAsync(string eventId, CancellationToken cancellationToken)
    {
        var found = await GetEventsAsync([eventId], cancellationToken).ConfigureAwait(false);
        return found.TryGetValue(eventId, out var pdu) ? pdu : null;
    }
}

/// <summary>
/// Optional: a source that also implements this answers the auth chain questions from an index (for example a chain
/// cover index) instead of state resolution walking <c>auth_events</c> event by event.
/// </summary>
public interface IAuthChainIndex
{
    /// <summary>
    /// The auth difference of the state sets: every event in the full auth chain of some but not all sets, where the
    /// full auth chain of a set is the union of the auth chains of its events, the events themselves included.
    /// </summary>
    ValueTask<IReadOnlySet<string>> GetAuthChainDifferenceAsync(IReadOnlyList<IReadOnlyCollection<string>> stateSets, CancellationToken cancellationToken);

    /// <summary>
    /// Room version 12's conflicted state subgraph: every event on an <c>auth_events</c> path between two of
    /// <paramref name="conflictedEvents"/>, endpoints included.
    /// </summary>
    ValueTask<IReadOnlySet<string>> GetConflictedSubgraphAsync(IReadOnlyCollection<string> conflictedEvents, CancellationToken cancellationToken);
}
