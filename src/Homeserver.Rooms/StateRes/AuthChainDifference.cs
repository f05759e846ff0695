namespace Homeserver.Rooms.StateRes;

/// <summary>
/// Step 1: the "auth difference": ∪Cᵢ − ∩Cᵢ where Cᵢ is the full auth chain of state set i.
/// As Synapse and ruma do, the full auth chain of a set includes the set's own events; this only differs from reading
/// the definition strictly for unconflicted events, which then never enter the difference.
/// <para>
/// Walking every set's chain to the create event costs sets × history. Instead: everything reachable from the
/// unconflicted events is in every chain (those events are in every set), so that region is walked once and marked
/// common; each set then walks from its conflicted events only, stopping at the common region. An event outside the
/// common region is in the difference iff fewer than all sets reach it.
/// </para>
/// </summary>
internal static class AuthChainDifference
{
    public static async ValueTask<HashSet<string>> ComputeAsync(
        ResolutionContext context, IReadOnlyList<IReadOnlyDictionary<StateKey, string>> stateSets, StateSplit split)
    {
        var common = new HashSet<string>(StringComparer.Ordinal);
        await AuthGraphWalk.WalkAsync(context, split.Unconflicted.Values, common, stopAt: null).ConfigureAwait(false);

        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var set in stateSets)
        {
            var starts = new List<string>();
            foreach (var key in split.Conflicted.Keys)
            {
                if (set.TryGetValue(key, out var id) && !common.Contains(id))
                {
                    starts.Add(id);
                }
            }

            var reached = new HashSet<string>(StringComparer.Ordinal);
            await AuthGraphWalk.WalkAsync(context, starts, reached, stopAt: common).ConfigureAwait(false);
            foreach (var id in reached)
            {
                counts[id] = counts.TryGetValue(id, out var c) ? c + 1 : 1;
            }
        }

        var difference = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (id, count) in counts)
        {
            if (count < stateSets.Count)
            {
                difference.Add(id);
            }
        }

        return difference;
    }
}

/// <summary>Breadth-first walks along <c>auth_events</c>, loading each layer from the source in one batch.</summary>
internal static class AuthGraphWalk
{
    /// <summary>
    /// Adds to <paramref name="visited"/> every event reachable from <paramref name="starts"/> (included) through
    /// <c>auth_events</c>, not entering events in <paramref name="stopAt"/>. Unknown events are included but not expanded.
    /// </summary>
    public static async ValueTask WalkAsync(ResolutionContext context, IEnumerable<string> starts, HashSet<string> visited, HashSet<string>? stopAt)
    {
        var frontier = new List<string>();
        foreach (var id in starts)
        {
            if ((stopAt is null || !stopAt.Contains(id)) && visited.Add(id))
            {
                frontier.Add(id);
            }
        }

        while (frontier.Count > 0)
        {
            await context.LoadAsync(frontier).ConfigureAwait(false);
            var next = new List<string>();
            foreach (var id in frontier)
            {
                if (context.Get(id) is not { } ev)
                {
                    continue;
                }

                foreach (var authId in ev.AuthEventIds)
                {
                    if ((stopAt is null || !stopAt.Contains(authId)) && visited.Add(authId))
                    {
                        next.Add(authId);
                    }
                }
            }

            frontier = next;
        }
    }
}
