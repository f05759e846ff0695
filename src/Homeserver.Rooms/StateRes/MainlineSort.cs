namespace Homeserver.Rooms.StateRes;

/// <summary>
/// Step 5: the "mainline ordering" of the events not picked in step 3, based on the power levels event P of the
/// partially resolved state. The mainline of P is P and the chain of power levels events through their auth events.
/// An event's mainline position is the index of the first event of its own power levels chain (the event itself
/// excluded) that is on the mainline, or ∞. Events sort by greater position first (older power), then smaller
/// <c>origin_server_ts</c>, then smaller event ID.
/// </summary>
internal static class MainlineSort
{
    private const int Infinity = int.MaxValue;

    public static async ValueTask<List<string>> SortAsync(ResolutionContext context, IReadOnlyCollection<string> eventIds, string? powerLevelsEventId)
    {
        var events = new List<Pdu>(eventIds.Count);
        foreach (var id in eventIds)
        {
            if (context.Get(id) is { } ev)
            {
                events.Add(ev);
            }
        }

        if (events.Count == 0)
        {
            return [];
        }

        // Load every power levels chain involved, one layer per batch: to know which auth event is the power levels
        // event, all auth events of each chain event must be loaded.
        var frontier = new List<string>(eventIds);
        if (powerLevelsEventId is not null)
        {
            frontier.Add(powerLevelsEventId);
        }

        var seen = new HashSet<string>(frontier, StringComparer.Ordinal);
        while (frontier.Count > 0)
        {
            await context.LoadAsync(frontier).ConfigureAwait(false);
            await context.LoadAuthEventsAsync(frontier).ConfigureAwait(false);
            var next = new List<string>();
            foreach (var id in frontier)
            {
                if (context.Get(id) is { } ev && context.FindAuthEvent(ev, EventTypes.PowerLevels) is { } pl && seen.Add(pl.EventId))
                {
                    next.Add(pl.EventId);
                }
            }

            frontier = next;
        }

        // The mainline: P0 = the resolved power levels, P(i+1) = the power levels event in the auth events of P(i).
        var mainline = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var p = powerLevelsEventId is null ? null : context.Get(powerLevelsEventId); p is not null && mainline.TryAdd(p.EventId, mainline.Count);)
        {
            p = context.FindAuthEvent(p, EventTypes.PowerLevels);
        }

        // Position of the chain starting at a power levels event (that event included), memoised: chains share tails.
        var chainPosition = new Dictionary<string, int>(StringComparer.Ordinal);
        var keyed = new List<(int Position, long Ts, string Id)>(events.Count);
        foreach (var ev in events)
        {
            var first = context.FindAuthEvent(ev, EventTypes.PowerLevels);
            keyed.Add((first is null ? Infinity : PositionOf(context, first, mainline, chainPosition), ev.OriginServerTs, ev.EventId));
        }

        keyed.Sort(static (x, y) =>
        {
            var c = y.Position.CompareTo(x.Position);
            if (c != 0)
            {
                return c;
            }

            c = x.Ts.CompareTo(y.Ts);
            return c != 0 ? c : EventOrder.CompareIds(x.Id, y.Id);
        });

        var sorted = new List<string>(keyed.Count);
        foreach (var k in keyed)
        {
            sorted.Add(k.Id);
        }

        return sorted;
    }

    private static int PositionOf(ResolutionContext context, Pdu start, Dictionary<string, int> mainline, Dictionary<string, int> memo)
    {
        var walked = new List<string>();
        var visited = new HashSet<string>(StringComparer.Ordinal);
        var position = Infinity;
        for (Pdu? p = start; p is not null && visited.Add(p.EventId); p = context.FindAuthEvent(p, EventTypes.PowerLevels))
        {
            if (mainline.TryGetValue(p.EventId, out var index))
            {
                position = index;
                break;
            }

            if (memo.TryGetValue(p.EventId, out var known))
            {
                position = known;
                break;
            }

            walked.Add(p.EventId);
        }

        foreach (var id in walked)
        {
            memo[id] = position;
        }

        return position;
    }
}
