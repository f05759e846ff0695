using System.Text.Json;
using Homeserver.Core;
using Homeserver.Push.Rules;

namespace Homeserver.Push.Tests;

public sealed class PushRuleEditTests
{
    private const string Alice = "@alice:example.org";
    private static readonly JsonElement Notify = JsonDocument.Parse("""{"actions": ["notify"]}""").RootElement;

    private static IReadOnlyList<string> RoomRuleIds(IReadOnlyList<StoredPushRule> stored) =>
        PushRuleSet.Build(Alice, stored).Rules.Where(r => r.Kind == PushRuleKind.Room).Select(r => r.RuleId).ToList();

    [Fact]
    public void New_rules_come_first_and_before_and_after_place_them()
    {
        IReadOnlyList<StoredPushRule> s = [];
        s = PushRuleEdits.Put(s, PushRuleKind.Room, "#a", Notify, null, null);
        s = PushRuleEdits.Put(s, PushRuleKind.Room, "#b", Notify, null, null);
        RoomRuleIds(s).Should().Equal("#b", "#a");
        s = PushRuleEdits.Put(s, PushRuleKind.Room, "#c", Notify, null, "#b");
        RoomRuleIds(s).Should().Equal("#b", "#c", "#a");
        s = PushRuleEdits.Put(s, PushRuleKind.Room, "#d", Notify, "#b", null);
        RoomRuleIds(s).Should().Equal("#d", "#b", "#c", "#a");
        s = PushRuleEdits.Put(s, PushRuleKind.Room, "#c", JsonDocument.Parse("""{"actions": []}""").RootElement, null, null);
        RoomRuleIds(s).Should().Equal("#d", "#b", "#c", "#a");
    }

    [Theory]
    [InlineData(".m.rule.mine", MatrixErrorCode.InvalidParam)]
    [InlineData("has/slash", MatrixErrorCode.InvalidParam)]
    [InlineData("has\\backslash", MatrixErrorCode.InvalidParam)]
    public void Reserved_and_slashed_rule_ids_are_refused(string ruleId, string errcode)
    {
        var act = () => PushRuleEdits.Put([], PushRuleKind.Room, ruleId, Notify, null, null);
        act.Should().Throw<MatrixException>().Which.ErrorCode.Should().Be(errcode);
    }

    [Theory]
    [InlineData(PushRuleKind.Override, """{"actions": ["notify"]}""")]
    [InlineData(PushRuleKind.Underride, """{"conditions": [{}], "actions": ["notify"]}""")]
    [InlineData(PushRuleKind.Content, """{"actions": ["notify"]}""")]
    [InlineData(PushRuleKind.Room, """{}""")]
    [InlineData(PushRuleKind.Room, """{"actions": ["not_an_action"]}""")]
    [InlineData(PushRuleKind.Room, """{"actions": [{"value": 1}]}""")]
    [InlineData(PushRuleKind.Room, """{"actions": "notify"}""")]
    public void Malformed_rules_are_invalid_params(PushRuleKind kind, string body)
    {
        var act = () => PushRuleEdits.Put([], kind, "r", JsonDocument.Parse(body).RootElement, null, null);
        act.Should().Throw<MatrixException>().Which.Should().Match<MatrixException>(e => e.HttpStatus == 400 && e.ErrorCode == MatrixErrorCode.InvalidParam);
    }

    [Fact]
    public void An_unknown_before_rule_is_m_unknown()
    {
        var act = () => PushRuleEdits.Put([], PushRuleKind.Room, "#a", Notify, "#nope", null);
        act.Should().Throw<MatrixException>().Which.ErrorCode.Should().Be(MatrixErrorCode.Unknown);
    }

    [Fact]
    public void Server_default_rules_can_be_disabled_and_given_actions_but_not_deleted()
    {
        IReadOnlyList<StoredPushRule> s = [];
        s = PushRuleEdits.SetEnabled(s, Alice, PushRuleKind.Override, ".m.rule.master", JsonDocument.Parse("""{"enabled": true}""").RootElement);
        s = PushRuleEdits.SetActions(s, Alice, PushRuleKind.Underride, ".m.rule.message", JsonDocument.Parse("""{"actions": ["dont_notify"]}""").RootElement);
        var set = PushRuleSet.Build(Alice, s);
        set.Find(PushRuleKind.Override, ".m.rule.master")!.Enabled.Should().BeTrue();
        set.Find(PushRuleKind.Underride, ".m.rule.message")!.Actions.ToJsonString().Should().Be("""["dont_notify"]""");
        var delete = () => PushRuleEdits.Delete(s, Alice, PushRuleKind.Override, ".m.rule.master");
        delete.Should().Throw<MatrixException>().Which.HttpStatus.Should().Be(400);
    }

    [Fact]
    public void Unknown_rules_are_not_found()
    {
        var actions = () => PushRuleEdits.SetActions([], Alice, PushRuleKind.Override, ".not.a.default.rule", Notify);
        actions.Should().Throw<MatrixException>().Which.HttpStatus.Should().Be(404);
        var wrongKind = () => PushRuleEdits.SetActions([], Alice, PushRuleKind.Underride, ".m.rule.master", Notify);
        wrongKind.Should().Throw<MatrixException>().Which.HttpStatus.Should().Be(404);
        var delete = () => PushRuleEdits.Delete([], Alice, PushRuleKind.Sender, "@bob:example.com");
        delete.Should().Throw<MatrixException>().Which.HttpStatus.Should().Be(404);
    }

    [Fact]
    public void Enabled_must_be_a_boolean()
    {
        var act = () => PushRuleEdits.SetEnabled([], Alice, PushRuleKind.Override, ".m.rule.master", JsonDocument.Parse("""{"enabled": "not a boolean"}""").RootElement);
        act.Should().Throw<MatrixException>().Which.ErrorCode.Should().Be(MatrixErrorCode.InvalidParam);
    }
}
