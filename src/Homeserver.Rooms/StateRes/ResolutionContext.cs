using Homeserver.Core;

namespace Homeserver.Rooms.StateRes;

/// <summary>
/// The event cache of one resolution: events are fetched from the source in batches and kept by ID.
/// Events of another room are treated as unknown (state resolution never mixes rooms).
/// </summary>
internal sealed class ResolutionContext
{
    private readonly Dictionary<string, Pdu> events = new(StringComparer.Ordinal);
    private readonly HashSet<string> unknown = new(StringComparer.Ordinal);
    private readonly HashSet<string> rejected = new(StringComparer.Ordinal);
    private readonly IStateResolutionSource source;

    public ResolutionContext(RoomVersion version, IStateResolutionSource source, CancellationToken cancellationToken)
    {
        Version = version;
        this.source = source;
        CancellationToken = cancellationToken;
    }

    public RoomVersion Version { get; }

    public CancellationToken CancellationToken { get; }

    /// <summary>The room being resolved; fixed by the first event loaded (normally the create event).</summary>
    public string? RoomId { get; private set; }

    public IStateResolutionSource Source => source;

    public Pdu? Get(string eventId) => events.TryGetValue(eventId, out var ev) ? ev : null;

    public bool IsRejected(string eventId) => rejected.Contains(eventId);

    /// <summary>Loads the given events not loaded yet in one batch.</summary>
    public async ValueTask LoadAsync(IEnumerable<string> eventIds)
    {
        List<string>? wanted = null;
        HashSet<string>? seen = null;
        foreach (var id in eventIds)
        {
            if (events.ContainsKey(id) || unknown.Contains(id))
            {
                continue;
            }

            seen ??= new HashSet<string>(StringComparer.Ordinal);
            if (seen.Add(id))
            {
                (wanted ??= []).Add(id);
            }
        }

        if (wanted is null)
        {
            return;
        }

        CancellationToken.ThrowIfCancellationRequested();
        var found = await source.GetEventsAsync(wanted, CancellationToken).ConfigureAwait(false);
        var fetched = new List<string>(found.Count);
        foreach (var id in wanted)
        {
            if (found.TryGetValue(id, out var ev) && ev.EventId == id && ev.RoomVersion == Version && (RoomId ??= ev.RoomId) == ev.RoomId)
            {
                events[id] = ev;
                fetched.Add(id);
            }
            else
            {
                unknown.Add(id);
            }
        }

        if (fetched.Count > 0)
        {
            var rejectedNow = await source.GetRejectedAsync(fetched, CancellationToken).ConfigureAwait(false);
            rejected.UnionWith(rejectedNow);
        }
    }

    /// <summary>Loads the auth events of the given (loaded) events.</summary>
    public ValueTask LoadAuthEventsAsync(IEnumerable<string> eventIds)
    {
        var ids = new List<string>();
        foreach (var id in eventIds)
        {
            if (Get(id) is { } ev)
            {
                ids.AddRange(ev.AuthEventIds);
            }
        }

        return LoadAsync(ids);
    }

    /// <summary>Fixes the room before anything is loaded, so that stray events of other rooms cannot claim it.</summary>
    public void SetRoom(string roomId) => RoomId ??= roomId;

    /// <summary>
    /// The power levels event among the (loaded) auth events of <paramref name="ev"/>, as used by the mainline and by the
    /// sender's power level in the reverse topological power ordering.
    /// </summary>
    public Pdu? FindAuthEvent(Pdu ev, string type)
    {
        foreach (var id in ev.AuthEventIds)
        {
            if (Get(id) is { } a && a.Type == type && a.StateKey == string.Empty)
            {
                return a;
            }
        }

        return null;
    }

    /// <summary>
    /// The create event that applies to <paramref name="ev"/>: in v12 the one named by the room ID (not an auth event),
    /// before that the one in its auth events.
    /// </summary>
    public Pdu? FindCreateEvent(Pdu ev) =>
        Version.RoomIdIsCreateEventHash ? Get("$" + ev.RoomId[1..]) : FindAuthEvent(ev, EventTypes.Create);
}
