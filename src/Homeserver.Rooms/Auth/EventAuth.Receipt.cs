namespace Homeserver.Rooms.Auth;

public static partial class EventAuth
{
    /// <summary>
    /// Step 4 of "Checks performed on receipt of a PDU": authorise <paramref name="pdu"/> against its own
    /// <c>auth_events</c>. Applies the rules on the auth events list (duplicates, entries the auth events selection would
    /// not pick, rejected entries, missing create event, entries of another room) and then <see cref="Check"/>.
    /// </summary>
    /// <param name="authEvents">The events named by <c>pdu.AuthEventIds</c> (extra events are ignored).</param>
    /// <param name="createEvent">v12: the <c>m.room.create</c> event named by the room ID (it is not an auth event).
    /// Ignored before v12.</param>
    /// <param name="isRejected">Whether an event was itself rejected; null if none of them was.</param>
    public static AuthResult CheckAgainstAuthEvents(
        Pdu pdu,
        IEnumerable<Pdu> authEvents,
        Pdu? createEvent = null,
        Func<string, bool>? isRejected = null,
        IAuthSignatureVerifier? verifier = null)
    {
        ArgumentNullException.ThrowIfNull(pdu);
        ArgumentNullException.ThrowIfNull(authEvents);
        var version = pdu.RoomVersion;

        if (pdu.Type == EventTypes.Create && pdu.StateKey == string.Empty)
        {
            return CheckCreate(pdu);
        }

        var byId = new Dictionary<string, Pdu>(StringComparer.Ordinal);
        foreach (var ev in authEvents)
        {
            byId.TryAdd(ev.EventId, ev);
        }

        var expected = AuthEventsSelection.GetRequiredKeys(pdu);
        var map = new Dictionary<StateKey, Pdu>(pdu.AuthEventIds.Count + 1);
        foreach (var id in pdu.AuthEventIds)
        {
            if (!byId.TryGetValue(id, out var authEvent))
            {
                return AuthResult.Reject("auth_events.missing", "auth event " + id + " is not available");
            }

            if (authEvent.StateMapKey is not { } key)
            {
                return AuthResult.Reject("auth_events.unexpected", "auth event " + id + " is not a state event");
            }

            if (!map.TryAdd(key, authEvent))
            {
                return AuthResult.Reject("auth_events.duplicate", "auth_events has two entries for " + key);
            }

            if (!Contains(expected, key))
            {
                return AuthResult.Reject("auth_events.unexpected", "auth event " + id + " for " + key + " is not one the auth events selection picks");
            }

            if (isRejected?.Invoke(id) == true)
            {
                return AuthResult.Reject("auth_events.rejected", "auth event " + id + " was rejected");
            }

            if (authEvent.RoomId != pdu.RoomId)
            {
                return AuthResult.Reject("auth_events.room", "auth event " + id + " belongs to another room");
            }
        }

        if (version.RoomIdIsCreateEventHash)
        {
            // v12 rule 2: the room ID names an accepted (not rejected) create event.
            if (createEvent is null || pdu.RoomId != "!" + createEvent.EventId[1..])
            {
                return AuthResult.Reject("room.create_mismatch", "the room_id is not the ID of the given m.room.create event");
            }

            if (isRejected?.Invoke(createEvent.EventId) == true)
            {
                return AuthResult.Reject("room.create_rejected", "the m.room.create event named by the room_id was rejected");
            }

            map[CreateKey] = createEvent;
        }
        else if (!map.ContainsKey(CreateKey))
        {
            return AuthResult.Reject("room.no_create", "there is no m.room.create event among the auth events");
        }

        return Check(pdu, map, verifier);
    }

    private static bool Contains(IReadOnlyList<StateKey> keys, StateKey key)
    {
        for (var i = 0; i < keys.Count; i++)
        {
            if (keys[i] == key)
            {
                return true;
            }
        }

        return false;
    }
}
