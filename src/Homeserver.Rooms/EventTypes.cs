namespace Homeserver.Rooms;

/// <summary>The event types that the room core branches on.</summary>
public static class EventTypes
{
    public const string Create = "m.room.create";
    public const string Member = "m.room.member";
    public const string PowerLevels = "m.room.power_levels";
    public const string JoinRules = "m.room.join_rules";
    public const string ThirdPartyInvite = "m.room.third_party_invite";
    public const string Aliases = "m.room.aliases";
    public const string Redaction = "m.room.redaction";
}

/// <summary>Values of <c>content.membership</c> in <c>m.room.member</c>.</summary>
public static class Membership
{
    public const string Join = "join";
    public const string Invite = "invite";
    public const string Leave = "leave";
    public const string Ban = "ban";
    public const string Knock = "knock";
}

/// <summary>Values of <c>content.join_rule</c> in <c>m.room.join_rules</c>.</summary>
public static class JoinRule
{
    public const string Public = "public";
    public const string Invite = "invite";
    public const string Knock = "knock";
    public const string Restricted = "restricted";
    public const string KnockRestricted = "knock_restricted";
    public const string Private = "private";
}
