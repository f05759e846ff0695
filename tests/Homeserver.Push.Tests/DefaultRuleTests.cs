using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Push.Rules;

namespace Homeserver.Push.Tests;

public sealed class DefaultRuleTests
{
    private const string Alice = "@alice:example.org";

    private static PushEventContext Event(object ev, long members = 5, long senderLevel = 0) =>
        new(JsonSerializer.SerializeToElement(ev), "!room:example.org", "@bob:example.org", members, senderLevel, _ => 50);

    private static CompiledPushRule? Match(object ev, long members = 5, long senderLevel = 0, IReadOnlyList<StoredPushRule>? stored = null) =>
        PushRuleSet.Build(Alice, stored ?? []).Compile().Evaluate(Event(ev, members, senderLevel), "Alice");

    [Fact]
    public void Default_rules_are_the_spec_list_in_order()
    {
        var set = PushRuleSet.Build(Alice, []);
        set.Rules.Select(r => r.RuleId).Should().Equal(
            ".m.rule.master", ".m.rule.suppress_notices", ".m.rule.invite_for_me", ".m.rule.member_event", ".m.rule.is_user_mention",
            ".m.rule.is_room_mention", ".m.rule.tombstone", ".m.rule.reaction", ".m.rule.room.server_acl", ".m.rule.suppress_edits",
            ".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one", ".m.rule.message", ".m.rule.encrypted");
        set.Find(PushRuleKind.Override, ".m.rule.master")!.Enabled.Should().BeFalse();
        var json = set.ToJson();
        json["global"]!["content"]!.AsArray().Should().BeEmpty();
        json["device"].Should().NotBeNull();
        json["global"]!["override"]![2]!["conditions"]![2]!["pattern"]!.GetValue<string>().Should().Be(Alice);
    }

    [Fact]
    public void A_plain_message_in_a_group_notifies_without_highlight()
    {
        var rule = Match(new { type = "m.room.message", content = new { msgtype = "m.text", body = "hello" } });
        rule!.Rule.RuleId.Should().Be(".m.rule.message");
        rule.Actions.Notify.Should().BeTrue();
        rule.Actions.Highlight.Should().BeFalse();
    }

    [Fact]
    public void A_message_in_a_one_to_one_room_plays_a_sound()
    {
        var rule = Match(new { type = "m.room.message", content = new { body = "hi" } }, members: 2);
        rule!.Rule.RuleId.Should().Be(".m.rule.room_one_to_one");
        rule.Actions.Tweaks["sound"]!.GetValue<string>().Should().Be("default");
    }

    [Fact]
    public void A_user_mention_highlights()
    {
        var ev = JsonNode.Parse("""{"type": "m.room.message", "content": {"body": "hey", "m.mentions": {"user_ids": ["ALICE"]}}}""".Replace("ALICE", Alice, StringComparison.Ordinal));
        var rule = Match(ev!);
        rule!.Rule.RuleId.Should().Be(".m.rule.is_user_mention");
        rule.Actions.Highlight.Should().BeTrue();
    }

    [Fact]
    public void A_room_mention_highlights_only_from_a_sender_with_enough_power()
    {
        var ev = JsonNode.Parse("""{"type": "m.room.message", "content": {"body": "@room", "m.mentions": {"room": true}}}""")!;
        Match(ev, senderLevel: 50)!.Rule.RuleId.Should().Be(".m.rule.is_room_mention");
        Match(ev, senderLevel: 0)!.Rule.RuleId.Should().Be(".m.rule.message");
    }

    [Fact]
    public void Notices_edits_reactions_and_other_members_joins_do_not_notify()
    {
        Match(new { type = "m.room.message", content = new { msgtype = "m.notice", body = "bot" } })!.Actions.Notify.Should().BeFalse();
        Match(JsonNode.Parse("""{"type": "m.room.message", "content": {"body": "* x", "m.relates_to": {"rel_type": "m.replace", "event_id": "$e"}}}""")!)!
            .Actions.Notify.Should().BeFalse();
        Match(new { type = "m.reaction", content = new { } })!.Actions.Notify.Should().BeFalse();
        Match(new { type = "m.room.member", state_key = "@carol:example.org", content = new { membership = "join" } })!
            .Rule.RuleId.Should().Be(".m.rule.member_event");
    }

    public static TheoryData<string, bool, StoredPushRule[]> RuleSetsForOthersMembership()
    {
        static StoredPushRule Changed(string ruleId, bool? enabled = null, string? actions = null) =>
            new(PushRuleKind.Override, ruleId, true, 0, null, null, actions is null ? null : JsonNode.Parse(actions)!.AsArray(), enabled);
        static StoredPushRule Own(string actions) =>
            new(PushRuleKind.Override, "members", false, 0, JsonNode.Parse("""[{"kind": "event_match", "key": "type", "pattern": "m.room.member"}]""")!.AsArray(),
                null, JsonNode.Parse(actions)!.AsArray(), true);

        return new()
        {
            { "the server defaults", true, [] },
            { "master enabled", true, [Changed(".m.rule.master", enabled: true)] },
            { "an own override that does not notify", true, [Own("[]")] },
            { "invite_for_me silenced", true, [Changed(".m.rule.invite_for_me", actions: "[]")] },
            { "member_event disabled", false, [Changed(".m.rule.member_event", enabled: false)] },
            { "member_event notifying", false, [Changed(".m.rule.member_event", actions: """["notify"]""")] },
            { "master enabled and notifying", false, [Changed(".m.rule.master", enabled: true, actions: """["notify"]""")] },
            { "suppress_notices notifying", false, [Changed(".m.rule.suppress_notices", actions: """["notify"]""")] },
            { "an own override that notifies", false, [Own("""["notify"]""")] },
        };
    }

    /// <summary>
    /// The evaluator skips others' membership events for a user whose rules say they never notify; that must be exactly
    /// what evaluating them gives. Every rule set here is checked against membership events of every kind about someone
    /// else, including ones that later rules would notify for (a mention of the owner, a notice).
    /// </summary>
    [Theory]
    [MemberData(nameof(RuleSetsForOthersMembership))]
    public void Others_membership_is_skipped_only_when_no_such_event_can_notify(string name, bool skipped, StoredPushRule[] stored)
    {
        var rules = PushRuleSet.Build(Alice, stored).Compile();
        rules.OthersMembershipNeverNotifies.Should().Be(skipped, name);

        var notified = new List<string>();
        foreach (var membership in new[] { "join", "invite", "leave", "ban", "knock" })
        {
            foreach (var content in new[]
            {
                $$"""{"membership": "{{membership}}"}""",
                $$"""{"membership": "{{membership}}", "msgtype": "m.notice"}""",
                $$$"""{"membership": "{{{membership}}}", "body": "Alice", "m.mentions": {"user_ids": ["{{{Alice}}}"], "room": true}}""",
            })
            {
                var ev = JsonNode.Parse($$"""{"type": "m.room.member", "state_key": "@carol:example.org", "content": {{content}}}""")!;
                if (Match(ev, senderLevel: 100, stored: stored) is { Actions.Notify: true })
                {
                    notified.Add(content);
                }
            }
        }

        if (skipped)
        {
            notified.Should().BeEmpty(name + ": skipping must not lose a notification");
        }
        else
        {
            notified.Should().NotBeEmpty(name + ": such a rule set does notify for some of them");
        }

        // The owner's own invite is never skipped: it notifies unless the owner silenced it.
        var invite = Match(new { type = "m.room.member", state_key = Alice, content = new { membership = "invite" } }, stored: stored);
        (invite is { Actions.Notify: true }).Should().Be(name is not ("invite_for_me silenced" or "master enabled" or "an own override that does not notify"));
    }

    [Fact]
    public void An_invite_for_me_notifies()
    {
        var rule = Match(new { type = "m.room.member", state_key = Alice, content = new { membership = "invite" } });
        rule!.Rule.RuleId.Should().Be(".m.rule.invite_for_me");
        rule.Actions.Notify.Should().BeTrue();
    }

    [Fact]
    public void A_tombstone_highlights_but_only_as_a_state_event()
    {
        Match(new { type = "m.room.tombstone", state_key = "", content = new { body = "moved" } })!.Actions.Highlight.Should().BeTrue();
        Match(new { type = "m.room.tombstone", content = new { body = "moved" } }).Should().BeNull();
    }

    [Fact]
    public void Encrypted_events_notify_with_a_sound_in_one_to_one_rooms()
    {
        Match(new { type = "m.room.encrypted", content = new { } }, members: 2)!.Rule.RuleId.Should().Be(".m.rule.encrypted_room_one_to_one");
        Match(new { type = "m.room.encrypted", content = new { } }, members: 3)!.Rule.RuleId.Should().Be(".m.rule.encrypted");
        Match(new { type = "m.call.invite", content = new { } })!.Actions.Tweaks["sound"]!.GetValue<string>().Should().Be("ring");
    }

    [Fact]
    public void Unmatched_events_give_no_rule()
    {
        Match(new { type = "org.example.custom", content = new { } }).Should().BeNull();
    }

    [Fact]
    public void The_enabled_master_rule_silences_everything()
    {
        var stored = new[] { new StoredPushRule(PushRuleKind.Override, ".m.rule.master", true, 0, null, null, null, true) };
        var rule = Match(JsonNode.Parse("""{"type": "m.room.message", "content": {"body": "x", "m.mentions": {"user_ids": ["ALICE"]}}}""".Replace("ALICE", Alice, StringComparison.Ordinal))!, stored: stored);
        rule!.Rule.RuleId.Should().Be(".m.rule.master");
        rule.Actions.Notify.Should().BeFalse();
    }

    [Fact]
    public void User_rules_come_before_server_default_rules_of_their_kind_and_master_before_all()
    {
        var body = JsonDocument.Parse("""{"conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.message"}], "actions": ["dont_notify"]}""").RootElement;
        var stored = PushRuleEdits.Put([], PushRuleKind.Override, "mute_messages", body, null, null);
        var set = PushRuleSet.Build(Alice, stored);
        set.Rules.Take(3).Select(r => r.RuleId).Should().Equal(".m.rule.master", "mute_messages", ".m.rule.suppress_notices");
        var rule = set.Compile().Evaluate(Event(new { type = "m.room.message", content = new { body = "x" } }), null);
        rule!.Rule.RuleId.Should().Be("mute_messages");
        rule.Actions.Notify.Should().BeFalse("dont_notify is a historical action and is ignored");
    }

    [Fact]
    public void Content_room_and_sender_rules_use_their_implicit_conditions()
    {
        IReadOnlyList<StoredPushRule> stored = [];
        stored = PushRuleEdits.Put(stored, PushRuleKind.Content, "cake", JsonDocument.Parse("""{"pattern": "cake", "actions": ["notify", {"set_tweak": "highlight"}]}""").RootElement, null, null);
        stored = PushRuleEdits.Put(stored, PushRuleKind.Room, "!room:example.org", JsonDocument.Parse("""{"actions": []}""").RootElement, null, null);
        var set = PushRuleSet.Build(Alice, stored).Compile();
        set.Evaluate(Event(new { type = "m.room.message", content = new { body = "I like Cake!" } }), null)!.Rule.RuleId.Should().Be("cake");
        set.Evaluate(Event(new { type = "m.room.message", content = new { body = "cupcakes" } }), null)!.Rule.RuleId.Should().Be("!room:example.org");
    }
}
