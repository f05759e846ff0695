using System.Text.Json;
using Homeserver.Rooms.Auth;

namespace Homeserver.Rooms.Tests.TestKit;

/// <summary>A fork of a <see cref="TestRoom"/>: events built on it see only the branch's own state.</summary>
internal sealed class Branch
{
    private readonly TestRoom room;
    private readonly Dictionary<StateKey, Pdu> state;
    private readonly List<Pdu> events = [];
    private Pdu last;

    public Branch(TestRoom room)
    {
        this.room = room;
        state = new Dictionary<StateKey, Pdu>(room.State);
        last = room.AllEvents.OrderBy(e => e.Depth).ThenBy(e => e.OriginServerTs).Last();
    }

    public IReadOnlyList<Pdu> Events => events;

    public IReadOnlyDictionary<StateKey, string> StateIds => state.ToDictionary(kv => kv.Key, kv => kv.Value.EventId);

    public Pdu Send(string type, string sender, string? stateKey, string content)
    {
        var contentElement = JsonDocument.Parse(content).RootElement;
        var auth = AuthEventsSelection.GetRequiredKeys(room.Version, type, stateKey, sender, contentElement)
            .Where(state.ContainsKey).Select(k => state[k].EventId).ToList();
        var pdu = room.Make(room.NewId(), type, sender, stateKey, content, auth, [last.EventId], last.Depth + 1);
        events.Add(pdu);
        if (pdu.StateMapKey is { } key)
        {
            state[key] = pdu;
        }

        last = pdu;
        return pdu;
    }
}
