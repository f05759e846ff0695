using System.Text.Json.Nodes;

namespace Homeserver.Push.Rules;

/// <summary>
/// The server-default rules of the spec ("Predefined Rules", v1.19), in the order it lists them. The legacy
/// body-matching rules (<c>.m.rule.contains_display_name</c>, <c>.m.rule.roomnotif</c>, <c>.m.rule.contains_user_name</c>)
/// were removed from the spec in v1.17 and are not offered; mentions are the <c>m.mentions</c> rules.
/// <c>[the user's Matrix ID]</c> in a definition is the owner's user ID.
/// </summary>
public static class DefaultPushRules
{
    public const string Master = ".m.rule.master";

    public const string InviteForMe = ".m.rule.invite_for_me";

    public const string MemberEvent = ".m.rule.member_event";

    public static IReadOnlyList<PushRule> For(string userId) =>
    [
        Override(Master, enabled: false, Conditions(), Actions()),
        Override(".m.rule.suppress_notices", true, Conditions(Match("content.msgtype", "m.notice")), Actions()),
        Override(
            InviteForMe,
            true,
            Conditions(Match("type", "m.room.member"), Match("content.membership", "invite"), Match("state_key", userId)),
            Actions("notify", Tweak("sound", "default"))),
        Override(MemberEvent, true, Conditions(Match("type", "m.room.member")), Actions()),
        Override(
            ".m.rule.is_user_mention",
            true,
            Conditions(new JsonObject { ["kind"] = "event_property_contains", ["key"] = "content.m\\.mentions.user_ids", ["value"] = userId }),
            Actions("notify", Tweak("sound", "default"), Tweak("highlight", null))),
        Override(
            ".m.rule.is_room_mention",
            true,
            Conditions(
                new JsonObject { ["kind"] = "event_property_is", ["key"] = "content.m\\.mentions.room", ["value"] = true },
                new JsonObject { ["kind"] = "sender_notification_permission", ["key"] = "room" }),
            Actions("notify", Tweak("highlight", null))),
        Override(".m.rule.tombstone", true, Conditions(Match("type", "m.room.tombstone"), Match("state_key", string.Empty)), Actions("notify", Tweak("highlight", null))),
        Override(".m.rule.reaction", true, Conditions(Match("type", "m.reaction")), Actions()),
        Override(".m.rule.room.server_acl", true, Conditions(Match("type", "m.room.server_acl"), Match("state_key", string.Empty)), Actions()),
        Override(
            ".m.rule.suppress_edits",
            true,
            Conditions(new JsonObject { ["kind"] = "event_property_is", ["key"] = "content.m\\.relates_to.rel_type", ["value"] = "m.replace" }),
            Actions()),
        Underride(".m.rule.call", Conditions(Match("type", "m.call.invite")), Actions("notify", Tweak("sound", "ring"))),
        Underride(
            ".m.rule.encrypted_room_one_to_one",
            Conditions(MemberCount("2"), Match("type", "m.room.encrypted")),
            Actions("notify", Tweak("sound", "default"))),
        Underride(
            ".m.rule.room_one_to_one",
            Conditions(MemberCount("2"), Match("type", "m.room.message")),
            Actions("notify", Tweak("sound", "default"))),
        Underride(".m.rule.message", Conditions(Match("type", "m.room.message")), Actions("notify")),
        Underride(".m.rule.encrypted", Conditions(Match("type", "m.room.encrypted")), Actions("notify")),
    ];

    private static PushRule Override(string id, bool enabled, JsonArray conditions, JsonArray actions) =>
        new(PushRuleKind.Override, id, Default: true, enabled, actions, conditions);

    private static PushRule Underride(string id, JsonArray conditions, JsonArray actions) =>
        new(PushRuleKind.Underride, id, Default: true, Enabled: true, actions, conditions);

    private static JsonObject Match(string key, string pattern) => new() { ["kind"] = "event_match", ["key"] = key, ["pattern"] = pattern };

    private static JsonObject MemberCount(string @is) => new() { ["kind"] = "room_member_count", ["is"] = @is };

    private static JsonObject Tweak(string name, string? value)
    {
        var o = new JsonObject { ["set_tweak"] = name };
        if (value is not null)
        {
            o["value"] = value;
        }

        return o;
    }

    private static JsonArray Conditions(params JsonObject[] items) => [.. items];

    private static JsonArray Actions(params object[] items)
    {
        var array = new JsonArray();
        foreach (var item in items)
        {
            array.Add(item is string s ? JsonValue.Create(s) : (JsonNode)item);
        }

        return array;
    }
}
