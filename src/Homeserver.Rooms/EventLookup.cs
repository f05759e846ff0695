using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms;

/// <summary>Events by ID through the shared <see cref="EventCache"/>, falling back to the store.</summary>
public sealed class EventLookup(EventCache cache, IRoomStore store)
{
    public async Task<IReadOnlyDictionary<string, Pdu>> GetEventsAsync(IEnumerable<string> ids, CancellationToken ct)
    {
        var result = new Dictionary<string, Pdu>(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var id in ids)
        {
            if (cache.TryGet(id, out var pdu))
            {
                result[id] = pdu;
            }
            else if (!result.ContainsKey(id))
            {
                missing.Add(id);
            }
        }

        if (missing.Count > 0)
        {
            foreach (var (id, pdu) in await store.GetEventsAsync(missing, ct))
            {
                cache.Add(pdu);
                result[id] = pdu;
            }
        }

        return result;
    }
}
