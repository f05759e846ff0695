using Homeserver.Rooms.Auth;

namespace Homeserver.Rooms.StateRes;

/// <summary>
/// Step 3: select the power events of the full conflicted set, enlarge the selection with the events of their auth
/// chains that are in the full conflicted set, and sort it by the "reverse topological power ordering": Kahn's
/// algorithm over the <c>auth_events</c> DAG, choosing among the ready events the one whose sender has the greatest
/// power level (by its own auth events), then the smallest <c>origin_server_ts</c>, then the smallest event ID.
/// <para>
/// The auth chain is followed through events of the full conflicted set only, and the DAG uses those direct edges:
/// this is what Synapse and ruma do, and convergence with them matters more than reading "auth chain" transitively.
/// In v12 the conflicted state subgraph makes both readings agree for paths between conflicted events.
/// </para>
/// </summary>
internal static class ReverseTopologicalPowerSort
{
    public static async ValueTask<List<string>> SortAsync(ResolutionContext context, HashSet<string> fullConflictedSet)
    {
        // The selection X and its edges (event -> its auth events inside X).
        var authEdges = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        foreach (var id in fullConflictedSet)
        {
            if (context.Get(id) is { } ev && PowerEvents.IsPowerEvent(ev) && !authEdges.ContainsKey(id))
            {
                authEdges[id] = [];
                stack.Push(id);
            }
        }

        while (stack.Count > 0)
        {
            var id = stack.Pop();
            var edges = authEdges[id];
            foreach (var authId in context.Get(id)!.AuthEventIds)
            {
                if (!fullConflictedSet.Contains(authId) || context.Get(authId) is null)
                {
                    continue;
                }

                if (!edges.Contains(authId))
                {
                    edges.Add(authId);
                }

                if (!authEdges.ContainsKey(authId))
                {
                    authEdges[authId] = [];
                    stack.Push(authId);
                }
            }
        }

        // The sender's power level "when looking at their respective auth_events" needs those auth events.
        await context.LoadAuthEventsAsync(authEdges.Keys).ConfigureAwait(false);
        if (context.Version.RoomIdIsCreateEventHash && context.RoomId is { } roomId)
        {
            await context.LoadAsync(["$" + roomId[1..]]).ConfigureAwait(false);
        }

        var keys = new Dictionary<string, SortKey>(authEdges.Count, StringComparer.Ordinal);
        foreach (var id in authEdges.Keys)
        {
            var ev = context.Get(id)!;
            keys[id] = new SortKey(SenderPowerLevel(context, ev), ev.OriginServerTs, id);
        }

        return Kahn(authEdges, keys);
    }

    /// <summary>
    /// The sender's power level from the event's own auth events: the creators' infinite level in v12, else the power
    /// levels event in the auth events, else 100 for the creator and 0 for anyone else (as Synapse).
    /// </summary>
    internal static long SenderPowerLevel(ResolutionContext context, Pdu ev)
    {
        var powerLevels = context.FindAuthEvent(ev, EventTypes.PowerLevels);
        var create = context.FindCreateEvent(ev);
        return PowerLevels.From(powerLevels, create, context.Version).GetUserLevel(ev.Sender);
    }

    /// <summary>Kahn's algorithm, emitting auth events before the events citing them, smallest ready key first.</summary>
    internal static List<string> Kahn(Dictionary<string, List<string>> authEdges, Dictionary<string, SortKey> keys)
    {
        var pending = new Dictionary<string, int>(authEdges.Count, StringComparer.Ordinal);
        var citedBy = new Dictionary<string, List<string>>(authEdges.Count, StringComparer.Ordinal);
        var ready = new PriorityQueue<string, SortKey>(SortKey.Comparer);
        foreach (var (id, edges) in authEdges)
        {
            pending[id] = edges.Count;
            if (edges.Count == 0)
            {
                ready.Enqueue(id, keys[id]);
            }

            foreach (var authId in edges)
            {
                if (!citedBy.TryGetValue(authId, out var list))
                {
                    citedBy[authId] = list = [];
                }

                list.Add(id);
            }
        }

        var sorted = new List<string>(authEdges.Count);
        while (ready.TryDequeue(out var id, out _))
        {
            sorted.Add(id);
            if (!citedBy.TryGetValue(id, out var parents))
            {
                continue;
            }

            foreach (var parent in parents)
            {
                if (--pending[parent] == 0)
                {
                    ready.Enqueue(parent, keys[parent]);
                }
            }
        }

        // Events on an auth cycle (possible only with forged v1/v2 IDs) never become ready and are left out.
        return sorted;
    }

    internal readonly record struct SortKey(long PowerLevel, long OriginServerTs, string EventId)
    {
        public static IComparer<SortKey> Comparer { get; } = Comparer<SortKey>.Create(static (x, y) =>
        {
            // Greater power level first, then older timestamp, then smaller event ID.
            var c = y.PowerLevel.CompareTo(x.PowerLevel);
            if (c != 0)
            {
                return c;
            }

            c = x.OriginServerTs.CompareTo(y.OriginServerTs);
            return c != 0 ? c : EventOrder.CompareIds(x.EventId, y.EventId);
        });
    }
}
