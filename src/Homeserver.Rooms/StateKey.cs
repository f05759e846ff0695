namespace Homeserver.Rooms;

/// <summary>
/// The key of a room state map: the <c>(event_type, state_key)</c> pair of the spec
/// ("Unconflicted state map and conflicted state set", room versions 2+).
/// Ordinal equality, as Matrix identifiers are case-sensitive.
/// </summary>
public readonly record struct StateKey(string Type, string Key)
{
    public override string ToString() => "(" + Type + ", " + Key + ")";
}
