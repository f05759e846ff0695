using Homeserver.Core;
using Homeserver.Rooms.Auth;

namespace Homeserver.Rooms.StateRes;

/// <summary>
/// State resolution: the state before an event is the resolution of the states after its <c>prev_events</c>.
/// <para>Room version 1 uses <see cref="StateResolutionV1"/>. Room versions 2 to 11 ("v2", fragment v2-state-res) and
/// 12 ("v2.1", rooms/v12 "State resolution") follow this pipeline, one file per step:</para>
/// <list type="number">
/// <item><description>Split the state sets into the unconflicted state map and the conflicted state set
/// (<see cref="StateSplit"/>). Without conflicts, the unconflicted map is the answer.</description></item>
/// <item><description>Compute the auth difference of the sets (<see cref="AuthChainDifference"/>, or the source's
/// <see cref="IAuthChainIndex"/>).</description></item>
/// <item><description>v12 only: compute the conflicted state subgraph (<see cref="ConflictedStateSubgraph"/>). The full
/// conflicted set is the conflicted set ∪ the auth difference (∪ the subgraph in v12); events unknown to the source or of
/// another room are dropped.</description></item>
/// <item><description>Select the power events of the full conflicted set with their auth chains inside it, and sort them
/// by the reverse topological power ordering (<see cref="ReverseTopologicalPowerSort"/>).</description></item>
/// <item><description>Iterative auth checks over them (<see cref="IterativeAuthCheck"/>), starting from the unconflicted
/// state map (v2) or from an empty state map (v12), giving the partially resolved state.</description></item>
/// <item><description>Sort the remaining events of the full conflicted set by the mainline ordering of the partially
/// resolved power levels (<see cref="MainlineSort"/>).</description></item>
/// <item><description>Iterative auth checks over them, starting from the partially resolved state.</description></item>
/// <item><description>Apply the unconflicted state map over the result.</description></item>
/// </list>
/// </summary>
public static class StateResolver
{
    /// <summary>
    /// Resolves <paramref name="stateSets"/> (maps from state key to event ID) for a room of <paramref name="version"/>.
    /// Resolving a single set returns it unchanged; the order of the sets does not matter.
    /// </summary>
    /// <param name="verifier">Signature answers for the auth checks that need them (third-party invites, restricted
    /// joins). Defaults to <see cref="SignaturesCheckedUpstreamVerifier"/>, which cannot verify third-party invites:
    /// the federation layer should pass its Ed25519-backed verifier.</param>
    public static async ValueTask<IReadOnlyDictionary<StateKey, string>> ResolveAsync(
        RoomVersion version,
        IReadOnlyList<IReadOnlyDictionary<StateKey, string>> stateSets,
        IStateResolutionSource source,
        CancellationToken cancellationToken = default,
        IAuthSignatureVerifier? verifier = null)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(stateSets);
        ArgumentNullException.ThrowIfNull(source);
        verifier ??= SignaturesCheckedUpstreamVerifier.Instance;

        if (stateSets.Count == 0)
        {
            return new Dictionary<StateKey, string>();
        }

        if (stateSets.Count == 1)
        {
            return new Dictionary<StateKey, string>(stateSets[0]);
        }

        var context = new ResolutionContext(version, source, cancellationToken);
        await FixRoomAsync(context, stateSets).ConfigureAwait(false);

        return version.StateResolution == StateResolutionAlgorithm.V1
            ? await StateResolutionV1.ResolveAsync(context, stateSets, verifier).ConfigureAwait(false)
            : await ResolveV2Async(context, stateSets, verifier).ConfigureAwait(false);
    }

    private static async ValueTask<Dictionary<StateKey, string>> ResolveV2Async(
        ResolutionContext context, IReadOnlyList<IReadOnlyDictionary<StateKey, string>> stateSets, IAuthSignatureVerifier verifier)
    {
        var isV21 = context.Version.StateResolution == StateResolutionAlgorithm.V2_1;

        // 1. Unconflicted state map and conflicted state set.
        var split = StateSplit.Compute(stateSets, missingKeyConflicts: true);
        if (split.Conflicted.Count == 0)
        {
            return split.Unconflicted;
        }

        var conflicted = split.ConflictedEventIds();
        var index = context.Source as IAuthChainIndex;

        // 2. Auth difference.
        var full = new HashSet<string>(conflicted, StringComparer.Ordinal);
        if (index is not null)
        {
            var sets = new List<IReadOnlyCollection<string>>(stateSets.Count);
            foreach (var set in stateSets)
            {
                sets.Add(set.Values.ToList());
            }

            full.UnionWith(await index.GetAuthChainDifferenceAsync(sets, context.CancellationToken).ConfigureAwait(false));
        }
        else
        {
            full.UnionWith(await AuthChainDifference.ComputeAsync(context, stateSets, split).ConfigureAwait(false));
        }

        // 3. v12: conflicted state subgraph, then the full conflicted set restricted to known events of this room.
        if (isV21)
        {
            full.UnionWith(index is not null
                ? await index.GetConflictedSubgraphAsync(conflicted, context.CancellationToken).ConfigureAwait(false)
                : await ConflictedStateSubgraph.ComputeAsync(context, conflicted).ConfigureAwait(false));
        }

        await context.LoadAsync(full).ConfigureAwait(false);
        full.RemoveWhere(id => context.Get(id) is not { IsState: true });

        // 4. Power events, reverse topological power ordering.
        var powerOrdered = await ReverseTopologicalPowerSort.SortAsync(context, full).ConfigureAwait(false);

        // 5. Iterative auth checks from the unconflicted state (v2) or from nothing (v12).
        var initial = isV21 ? new Dictionary<StateKey, string>() : split.Unconflicted;
        var partial = await IterativeAuthCheck.RunAsync(context, powerOrdered, initial, verifier).ConfigureAwait(false);

        // 6. Mainline ordering of the rest, based on the partially resolved power levels.
        var picked = new HashSet<string>(powerOrdered, StringComparer.Ordinal);
        var rest = new List<string>(full.Count - picked.Count);
        foreach (var id in full)
        {
            if (!picked.Contains(id))
            {
                rest.Add(id);
            }
        }

        partial.TryGetValue(new StateKey(EventTypes.PowerLevels, string.Empty), out var powerLevelsId);
        var mainlineOrdered = await MainlineSort.SortAsync(context, rest, powerLevelsId).ConfigureAwait(false);

        // 7. Iterative auth checks of the rest on top of the partial state.
        var resolved = await IterativeAuthCheck.RunAsync(context, mainlineOrdered, partial, verifier).ConfigureAwait(false);

        // 8. The unconflicted state map wins.
        foreach (var (key, id) in split.Unconflicted)
        {
            resolved[key] = id;
        }

        return resolved;
    }

    /// <summary>
    /// Fixes the room of this resolution from the create event of the state sets, so that events of other rooms
    /// are ignored rather than mixed in (Synapse raises an error for them instead).
    /// </summary>
    private static async ValueTask FixRoomAsync(ResolutionContext context, IReadOnlyList<IReadOnlyDictionary<StateKey, string>> stateSets)
    {
        var createKey = new StateKey(EventTypes.Create, string.Empty);
        foreach (var set in stateSets)
        {
            if (set.TryGetValue(createKey, out var createId))
            {
                await context.LoadAsync([createId]).ConfigureAwait(false);
                if (context.Get(createId) is { } create)
                {
                    context.SetRoom(create.RoomId);
                    return;
                }
            }
        }
    }
}
