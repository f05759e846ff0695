namespace Homeserver.Rooms.StateRes;

/// <summary>
/// Step 2 (room version 12): the "conflicted state subgraph": the union of all <c>auth_events</c> paths between
/// events of the conflicted state set, endpoints included. An event is on such a path iff it is reachable from a
/// conflicted event and a conflicted event is reachable from it.
/// </summary>
internal static class ConflictedStateSubgraph
{
    public static async ValueTask<HashSet<string>> ComputeAsync(ResolutionContext context, HashSet<string> conflicted)
    {
        // Everything reachable from the conflicted events (they included).
        var reachable = new HashSet<string>(StringComparer.Ordinal);
        await AuthGraphWalk.WalkAsync(context, conflicted, reachable, stopAt: null).ConfigureAwait(false);

        // Which of those reach a conflicted event: post-order over the auth DAG, iteratively (chains can be long).
        var reaches = new Dictionary<string, bool>(reachable.Count, StringComparer.Ordinal);
        var stack = new Stack<(string Id, int Next)>();
        foreach (var root in reachable)
        {
            if (reaches.ContainsKey(root))
            {
                continue;
            }

            stack.Push((root, 0));
            reaches[root] = conflicted.Contains(root);
            while (stack.Count > 0)
            {
                var (id, next) = stack.Pop();
                var auth = context.Get(id)?.AuthEventIds ?? [];
                if (next < auth.Count)
                {
                    stack.Push((id, next + 1));
                    var child = auth[next];
                    if (!reaches.ContainsKey(child))
                    {
                        reaches[child] = conflicted.Contains(child);
                        stack.Push((child, 0));
                    }

                    continue;
                }

                // All children are done: an event reaches the conflicted set if any auth event does.
                if (!reaches[id])
                {
                    foreach (var child in auth)
                    {
                        if (reaches.TryGetValue(child, out var r) && r)
                        {
                            reaches[id] = true;
                            break;
                        }
                    }
                }
            }
        }

        var subgraph = new HashSet<string>(conflicted, StringComparer.Ordinal);
        foreach (var id in reachable)
        {
            if (reaches[id])
            {
                subgraph.Add(id);
            }
        }

        return subgraph;
    }
}
