using Homeserver.Rooms;

namespace Homeserver.Storage.Rooms;

/// <summary>Converts snapshots between storage numbers (key number → event number) and the domain's (StateKey → event ID).</summary>
internal sealed class StateTranslator(StateSnapshotStore snapshots, StateKeyInterner stateKeys, EventNidCache eventNids)
{
    public async Task<IReadOnlyDictionary<StateKey, string>> GetStateAsync(long snapshotId, CancellationToken ct) =>
        await ToDomainAsync(await snapshots.GetAsync(snapshotId, ct), ct);

    public async Task<IReadOnlyDictionary<StateKey, string>> GetEntriesAsync(long snapshotId, IReadOnlyCollection<StateKey> keys, CancellationToken ct)
    {
        var state = await snapshots.GetAsync(snapshotId, ct);
        var keyNids = await stateKeys.FindAsync(keys, ct);
        var picked = new Dictionary<long, long>();
        foreach (var (_, nid) in keyNids)
        {
            if (state.TryGetValue(nid, out var ev))
            {
                picked[nid] = ev;
            }
        }

        return await ToDomainAsync(picked, ct);
    }

    public async Task<IReadOnlyDictionary<StateKey, string>> ToDomainAsync(IReadOnlyDictionary<long, long> state, CancellationToken ct)
    {
        if (state.Count == 0)
        {
            return new Dictionary<StateKey, string>();
        }

        var keys = await stateKeys.ResolveAsync(state.Keys, ct);
        var ids = await eventNids.GetIdsAsync(state.Values, ct);
        var result = new Dictionary<StateKey, string>(state.Count);
        foreach (var (k, e) in state)
        {
            result[keys[k]] = ids[e];
        }

        return result;
    }
}
