using Homeserver.Core;

namespace Homeserver.Rooms.Auth;

/// <summary>Reads of the authorisation-relevant parts of a state map that the rest of the server needs.</summary>
public static class RoomState
{
    private static readonly StateKey CreateKey = new(EventTypes.Create, string.Empty);
    private static readonly StateKey PowerLevelsKey = new(EventTypes.PowerLevels, string.Empty);
    private static readonly StateKey JoinRulesKey = new(EventTypes.JoinRules, string.Empty);

    public static Pdu? GetCreateEvent(IReadOnlyDictionary<StateKey, Pdu> state) => Get(state, CreateKey);

    public static Pdu? GetPowerLevelsEvent(IReadOnlyDictionary<StateKey, Pdu> state) => Get(state, PowerLevelsKey);

    public static Pdu? GetJoinRulesEvent(IReadOnlyDictionary<StateKey, Pdu> state) => Get(state, JoinRulesKey);

    public static Pdu? GetMemberEvent(IReadOnlyDictionary<StateKey, Pdu> state, string userId) =>
        Get(state, new StateKey(EventTypes.Member, userId));

    /// <summary>The user's membership (<c>join</c>, <c>invite</c>, ...), or null if the user has no member event.</summary>
    public static string? GetMembership(IReadOnlyDictionary<StateKey, Pdu> state, string userId) =>
        GetMemberEvent(state, userId)?.Membership;

    public static JoinRules GetJoinRules(IReadOnlyDictionary<StateKey, Pdu> state) => JoinRules.From(GetJoinRulesEvent(state));

    public static PowerLevels GetPowerLevels(IReadOnlyDictionary<StateKey, Pdu> state, RoomVersion version) =>
        PowerLevels.FromState(state, version);

    public static RoomCreators GetCreators(IReadOnlyDictionary<StateKey, Pdu> state, RoomVersion version) =>
        RoomCreators.From(GetCreateEvent(state), version);

    private static Pdu? Get(IReadOnlyDictionary<StateKey, Pdu> state, StateKey key)
    {
        ArgumentNullException.ThrowIfNull(state);
        return state.TryGetValue(key, out var ev) ? ev : null;
    }
}
