using Homeserver.Rooms.Auth;

namespace Homeserver.Rooms.StateRes;

/// <summary>
/// Steps 4 and 6: the "iterative auth checks" algorithm. Each event in order is authorised against the state built so
/// far and, if allowed, applied to it. An auth-relevant key missing from that state is taken from the event's own
/// <c>auth_events</c>, unless that auth event was rejected ("Rejected auth events are deliberately excluded").
/// Concretely, as in Synapse: start from the event's non-rejected auth events, then let the state override every key
/// the auth events selection picks for the event.
/// <para>
/// An event that was itself rejected is checked like any other ("handled as usual by the algorithm", spec "Rejected
/// events"); Synapse instead keeps such events out (its issue 13797). In v12 the create event named by the room ID is
/// always available, since it is not an auth event and the state starts empty.
/// </para>
/// </summary>
internal static class IterativeAuthCheck
{
    private static readonly StateKey CreateKey = new(EventTypes.Create, string.Empty);

    public static async ValueTask<Dictionary<StateKey, string>> RunAsync(
        ResolutionContext context, IReadOnlyList<string> orderedEvents, Dictionary<StateKey, string> initialState, IAuthSignatureVerifier verifier)
    {
        var state = new Dictionary<StateKey, string>(initialState);

        // Load, in two batches, everything the checks will read: the events' auth events and the entries of the
        // initial state under the keys they need. Later entries come from the ordered events themselves.
        await context.LoadAuthEventsAsync(orderedEvents).ConfigureAwait(false);
        var fromState = new List<string>();
        foreach (var id in orderedEvents)
        {
            if (context.Get(id) is not { } ev)
            {
                continue;
            }

            foreach (var key in AuthEventsSelection.GetRequiredKeys(ev))
            {
                if (state.TryGetValue(key, out var stateId))
                {
                    fromState.Add(stateId);
                }
            }
        }

        if (context.Version.RoomIdIsCreateEventHash && context.RoomId is { } roomId)
        {
            fromState.Add("$" + roomId[1..]);
        }

        await context.LoadAsync(fromState).ConfigureAwait(false);

        var authState = new Dictionary<StateKey, Pdu>(8);
        for (var i = 0; i < orderedEvents.Count; i++)
        {
            if ((i & 255) == 0)
            {
                context.CancellationToken.ThrowIfCancellationRequested();
            }

            if (context.Get(orderedEvents[i]) is not { StateMapKey: { } ownKey } ev)
            {
                continue;
            }

            authState.Clear();
            foreach (var authId in ev.AuthEventIds)
            {
                if (context.Get(authId) is { StateMapKey: { } key } authEvent && !context.IsRejected(authId))
                {
                    authState[key] = authEvent;
                }
            }

            foreach (var key in AuthEventsSelection.GetRequiredKeys(ev))
            {
                if (state.TryGetValue(key, out var stateId) && context.Get(stateId) is { } stateEvent)
                {
                    authState[key] = stateEvent;
                }
            }

            if (context.Version.RoomIdIsCreateEventHash && context.FindCreateEvent(ev) is { } create)
            {
                authState[CreateKey] = create;
            }

            if (EventAuth.Check(ev, authState, verifier).Allowed)
            {
                state[ownKey] = ev.EventId;
            }
        }

        return state;
    }
}
