namespace Homeserver.Rooms.StateRes;

/// <summary>
/// Step 0: "Unconflicted state map and conflicted state set" (v2 definitions). A key is unconflicted when every state
/// set has it with the same event; otherwise all its events (from the sets that have it) are conflicted.
/// Room version 1 differs: a key missing from some sets is not a conflict (v1 "conflicting events").
/// </summary>
internal sealed class StateSplit
{
    private StateSplit(Dictionary<StateKey, string> unconflicted, Dictionary<StateKey, List<string>> conflicted)
    {
        Unconflicted = unconflicted;
        Conflicted = conflicted;
    }

    public Dictionary<StateKey, string> Unconflicted { get; }

    /// <summary>Conflicted keys and their distinct event IDs, in the order first seen.</summary>
    public Dictionary<StateKey, List<string>> Conflicted { get; }

    public static StateSplit Compute(IReadOnlyList<IReadOnlyDictionary<StateKey, string>> stateSets, bool missingKeyConflicts)
    {
        var unconflicted = new Dictionary<StateKey, string>();
        var conflicted = new Dictionary<StateKey, List<string>>();
        foreach (var set in stateSets)
        {
            foreach (var (key, id) in set)
            {
                if (unconflicted.ContainsKey(key) || conflicted.ContainsKey(key))
                {
                    continue;
                }

                // First time this key is seen: compare it across all sets once.
                var ids = new List<string>(2);
                var missing = false;
                foreach (var other in stateSets)
                {
                    if (other.TryGetValue(key, out var otherId))
                    {
                        if (!ids.Contains(otherId))
                        {
                            ids.Add(otherId);
                        }
                    }
                    else
                    {
                        missing = true;
                    }
                }

                if (ids.Count == 1 && !(missing && missingKeyConflicts))
                {
                    unconflicted[key] = ids[0];
                }
                else
                {
                    conflicted[key] = ids;
                }
            }
        }

        return new StateSplit(unconflicted, conflicted);
    }

    /// <summary>Every conflicted event ID.</summary>
    public HashSet<string> ConflictedEventIds()
    {
        var all = new HashSet<string>(StringComparer.Ordinal);
        foreach (var ids in Conflicted.Values)
        {
            all.UnionWith(ids);
        }

        return all;
    }
}
