namespace Homeserver.Rooms;

/// <summary>Auth chains: every event reachable through <c>auth_events</c> (server-server API, "Auth chain").</summary>
public static class AuthChain
{
    /// <summary>The auth chain of <paramref name="eventIds"/> (the events themselves excluded), walked breadth first through <paramref name="lookup"/>.</summary>
    public static async Task<IReadOnlyList<Pdu>> GetAsync(EventLookup lookup, IEnumerable<Pdu> events, CancellationToken ct)
    {
        var seen = new Dictionary<string, Pdu>(StringComparer.Ordinal);
        var frontier = events.SelectMany(e => e.AuthEventIds).Distinct().ToList();
        while (frontier.Count > 0)
        {
            var found = await lookup.GetEventsAsync(frontier.Where(id => !seen.ContainsKey(id)).ToList(), ct);
            var next = new List<string>();
            foreach (var (id, pdu) in found)
            {
                if (seen.TryAdd(id, pdu))
                {
                    next.AddRange(pdu.AuthEventIds.Where(a => !seen.ContainsKey(a)));
                }
            }

            frontier = next.Distinct().ToList();
        }

        return seen.Values.OrderBy(e => e.Depth).ToList();
    }
}
