using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Rooms.Auth;

/// <summary>
/// The server-server API's "Auth events selection": which state entries an event's <c>auth_events</c> consist of.
/// Used to build new events, and by the auth rules to reject unexpected auth events (rule 2.2 / 3.2).
/// </summary>
public static class AuthEventsSelection
{
    /// <summary>
    /// The state keys whose current events belong in <c>auth_events</c> ("if any": callers include only those present).
    /// Tolerant of malformed content: a missing membership or token just selects fewer keys.
    /// </summary>
    public static IReadOnlyList<StateKey> GetRequiredKeys(RoomVersion version, string type, string? stateKey, string sender, JsonElement content)
    {
        ArgumentNullException.ThrowIfNull(version);
        var keys = new List<StateKey>(6);
        if (type == EventTypes.Create && stateKey == string.Empty)
        {
            // "The auth_events for the m.room.create event in a room is empty".
            return keys;
        }

        if (!version.RoomIdIsCreateEventHash)
        {
            // v12 changed: "the m.room.create event MUST NOT be selected"; before that it always is.
            keys.Add(new StateKey(EventTypes.Create, string.Empty));
        }

        keys.Add(new StateKey(EventTypes.PowerLevels, string.Empty));
        Add(keys, new StateKey(EventTypes.Member, sender));

        if (type != EventTypes.Member || stateKey is null)
        {
            return keys;
        }

        Add(keys, new StateKey(EventTypes.Member, stateKey));
        var membership = Json.GetString(content, "membership");
        if (membership is Membership.Join or Membership.Invite or Membership.Knock)
        {
            keys.Add(new StateKey(EventTypes.JoinRules, string.Empty));
        }

        if (membership == Membership.Invite
            && Json.TryGetProperty(content, "third_party_invite", out var tpi)
            && Json.TryGetProperty(tpi, "signed", out var signed)
            && Json.GetString(signed, "token") is { } token)
        {
            keys.Add(new StateKey(EventTypes.ThirdPartyInvite, token));
        }

        if (membership == Membership.Join
            && version.RestrictedJoins
            && Json.GetString(content, "join_authorised_via_users_server") is { } authoriser)
        {
            Add(keys, new StateKey(EventTypes.Member, authoriser));
        }

        return keys;
    }

    public static IReadOnlyList<StateKey> GetRequiredKeys(Pdu pdu)
    {
        ArgumentNullException.ThrowIfNull(pdu);
        return GetRequiredKeys(pdu.RoomVersion, pdu.Type, pdu.StateKey, pdu.Sender, pdu.Content);
    }

    /// <summary>Picks the auth event IDs of a new event from the current state (the selected keys that are present).</summary>
    public static IReadOnlyList<string> SelectAuthEventIds(
        RoomVersion version, string type, string? stateKey, string sender, JsonElement content, IReadOnlyDictionary<StateKey, string> currentState)
    {
        ArgumentNullException.ThrowIfNull(currentState);
        var ids = new List<string>(6);
        foreach (var key in GetRequiredKeys(version, type, stateKey, sender, content))
        {
            if (currentState.TryGetValue(key, out var id))
            {
                ids.Add(id);
            }
        }

        return ids;
    }

    private static void Add(List<StateKey> keys, StateKey key)
    {
        if (!keys.Contains(key))
        {
            keys.Add(key);
        }
    }
}
