namespace Homeserver.Rooms.StateRes;

/// <summary>
/// The "power events" definition: <c>m.room.power_levels</c>, <c>m.room.join_rules</c>, or a member event with
/// <c>leave</c> or <c>ban</c> whose sender is not its target. Like Synapse and ruma we also count <c>m.room.create</c>,
/// which only matters if create events conflict (a broken room) and then sorts them first.
/// </summary>
internal static class PowerEvents
{
    public static bool IsPowerEvent(Pdu ev)
    {
        if (ev.StateKey == string.Empty && ev.Type is EventTypes.PowerLevels or EventTypes.JoinRules or EventTypes.Create)
        {
            return true;
        }

        return ev.Type == EventTypes.Member
            && ev.Membership is Membership.Leave or Membership.Ban
            && ev.StateKey is not null
            && ev.StateKey != ev.Sender;
    }
}
