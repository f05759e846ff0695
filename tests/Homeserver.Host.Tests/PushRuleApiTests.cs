using System.Net;
using System.Text.Json;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

public sealed class PushRuleApiTests(TestServer server) : IClassFixture<TestServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    private static string[] RuleIds(JsonElement rules, string kind) =>
        rules.GetProperty(kind).EnumerateArray().Select(r => r.GetProperty("rule_id").GetString()!).ToArray();

    [Fact]
    public async Task The_ruleset_has_the_default_rules_and_the_device_scope()
    {
        var alice = await NewUserAsync();
        var body = (await alice.GetAsync("/_matrix/client/v3/pushrules/")).EnsureOk().Json;
        body.TryGetProperty("device", out _).Should().BeTrue();
        var global = body.GetProperty("global");
        RuleIds(global, "override").Should().StartWith(".m.rule.master").And.Contain(".m.rule.is_user_mention");
        RuleIds(global, "underride").Should().EndWith(".m.rule.encrypted");
        var invite = global.GetProperty("override").EnumerateArray().Single(r => r.GetProperty("rule_id").GetString() == ".m.rule.invite_for_me");
        invite.GetProperty("conditions")[2].GetProperty("pattern").GetString().Should().Be(alice.UserId);
        (await alice.GetAsync("/_matrix/client/v3/pushrules/global/")).EnsureOk().Json.TryGetProperty("override", out _).Should().BeTrue();
        (await alice.GetAsync("/_matrix/client/v3/pushrules/global/underride/")).EnsureOk().Json.GetArrayLength().Should().Be(5);
    }

    [Fact]
    public async Task Rules_are_added_ordered_read_changed_and_deleted()
    {
        var alice = await NewUserAsync();
        const string prefix = "/_matrix/client/v3/pushrules/global/room/";
        (await alice.PutAsync(prefix + Uri.EscapeDataString("#a:example.com"), new { actions = new[] { "notify" } })).EnsureOk();
        (await alice.PutAsync(prefix + Uri.EscapeDataString("#b:example.com"), new { actions = new[] { "notify" } })).EnsureOk();
        (await alice.PutAsync(prefix + Uri.EscapeDataString("#c:example.com") + "?after=" + Uri.EscapeDataString("#b:example.com"), new { actions = new[] { "notify" } })).EnsureOk();
        var global = (await alice.GetAsync("/_matrix/client/v3/pushrules/")).EnsureOk().Json.GetProperty("global");
        RuleIds(global, "room").Should().Equal("#b:example.com", "#c:example.com", "#a:example.com");

        var rule = (await alice.GetAsync(prefix + Uri.EscapeDataString("#c:example.com"))).EnsureOk().Json;
        rule.GetProperty("enabled").GetBoolean().Should().BeTrue();
        rule.GetProperty("default").GetBoolean().Should().BeFalse();

        (await alice.PutAsync(prefix + Uri.EscapeDataString("#c:example.com") + "/enabled", new { enabled = false })).EnsureOk();
        (await alice.GetAsync(prefix + Uri.EscapeDataString("#c:example.com") + "/enabled")).EnsureOk().Json.GetProperty("enabled").GetBoolean().Should().BeFalse();
        (await alice.PutAsync(prefix + Uri.EscapeDataString("#c:example.com") + "/actions", new { actions = new[] { "dont_notify" } })).EnsureOk();
        (await alice.GetAsync(prefix + Uri.EscapeDataString("#c:example.com") + "/actions")).EnsureOk().Json.GetProperty("actions").GetRawText().Should().Be("""["dont_notify"]""");

        (await alice.DeleteAsync(prefix + Uri.EscapeDataString("#a:example.com"))).EnsureOk();
        var after = (await alice.GetAsync("/_matrix/client/v3/pushrules/")).EnsureOk().Json.GetProperty("global");
        RuleIds(after, "room").Should().Equal("#b:example.com", "#c:example.com");
        (await alice.GetAsync(prefix + Uri.EscapeDataString("#a:example.com"))).Status.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Default_rules_can_be_changed_but_not_deleted_and_users_do_not_see_each_others_rules()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        (await alice.PutAsync("/_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled", new { enabled = true })).EnsureOk();
        (await alice.PutAsync("/_matrix/client/v3/pushrules/global/sender/" + Uri.EscapeDataString("@spam:example.com"), new { actions = Array.Empty<string>() })).EnsureOk();
        (await alice.GetAsync("/_matrix/client/v3/pushrules/global/override/.m.rule.master")).EnsureOk().Json.GetProperty("enabled").GetBoolean().Should().BeTrue();
        (await bob.GetAsync("/_matrix/client/v3/pushrules/global/override/.m.rule.master")).EnsureOk().Json.GetProperty("enabled").GetBoolean().Should().BeFalse();
        (await bob.GetAsync("/_matrix/client/v3/pushrules/global/sender/" + Uri.EscapeDataString("@spam:example.com"))).Status.Should().Be(HttpStatusCode.NotFound);
        var delete = await alice.DeleteAsync("/_matrix/client/v3/pushrules/global/override/.m.rule.master");
        delete.Status.Should().Be(HttpStatusCode.BadRequest);
        (await alice.PutAsync("/_matrix/client/v3/pushrules/global/override/.not.a.default.rule/actions", new { actions = new[] { "notify" } })).Status.Should().Be(HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("/", "{}")]
    [InlineData("/not_a_scope/room/foo", "{}")]
    [InlineData("/global", "{}")]
    [InlineData("/global/room", "{}")]
    [InlineData("/global/room/", "{}")]
    [InlineData("/global/not_a_template/foo", "{}")]
    [InlineData("/global/room/fo%5Co", """{"actions": ["notify"]}""")]
    [InlineData("/global/room/fo%2Fo", """{"actions": ["notify"]}""")]
    [InlineData("/global/override/my_id", """{"actions": ["notify"]}""")]
    [InlineData("/global/underride/my_id", """{"conditions": [{}], "actions": ["notify"]}""")]
    [InlineData("/global/content/my_id", """{"actions": ["notify"]}""")]
    [InlineData("/global/room/my_room", "{}")]
    [InlineData("/global/room/my_room", """{"actions": ["not_an_action"]}""")]
    [InlineData("/global/override/.m.rule.master/not_an_attr", """{"enabled": true}""")]
    [InlineData("/global/override/.m.rule.master/enabled", """{"enabled": "not a boolean"}""")]
    [InlineData("/global/room/.m.rule.mine", """{"actions": ["notify"]}""")]
    [InlineData("/global/room/x?before=nope", """{"actions": ["notify"]}""")]
    [InlineData("/global/room/x", "not json")]
    public async Task Malformed_rule_writes_are_400(string path, string body)
    {
        var alice = await NewUserAsync();
        var response = await alice.SendAsync(HttpMethod.Put, "/_matrix/client/v3/pushrules" + path, null, body);
        response.Status.Should().Be(HttpStatusCode.BadRequest, path);
        response.ErrCode.Should().NotBeNull();
    }

    [Theory]
    [InlineData("", HttpStatusCode.NotFound)]
    [InlineData("/global", HttpStatusCode.BadRequest)]
    [InlineData("/global/room", HttpStatusCode.BadRequest)]
    [InlineData("/not_a_scope/", HttpStatusCode.BadRequest)]
    [InlineData("/global/not_a_template/", HttpStatusCode.BadRequest)]
    [InlineData("/global/override/.m.rule.master/not_an_attr", HttpStatusCode.BadRequest)]
    [InlineData("/global/override/not_a_rule_id", HttpStatusCode.NotFound)]
    public async Task Malformed_rule_reads_fail(string path, HttpStatusCode expected)
    {
        var alice = await NewUserAsync();
        (await alice.GetAsync("/_matrix/client/v3/pushrules" + path)).Status.Should().Be(expected, path);
    }

    [Fact]
    public async Task Push_rules_come_down_in_an_initial_sync_and_a_change_wakes_an_incremental_one()
    {
        var alice = await NewUserAsync();
        var initial = (await alice.GetAsync("/_matrix/client/v3/sync")).EnsureOk().Json;
        var pushRules = initial.GetProperty("account_data").GetProperty("events").EnumerateArray().Single(e => e.GetProperty("type").GetString() == "m.push_rules");
        pushRules.GetProperty("content").GetProperty("global").GetProperty("override").GetArrayLength().Should().BeGreaterThan(5);

        var since = initial.GetProperty("next_batch").GetString();
        var poll = alice.GetAsync("/_matrix/client/v3/sync?timeout=15000&since=" + Uri.EscapeDataString(since!));
        await Task.Delay(200);
        (await alice.PutAsync("/_matrix/client/v3/pushrules/global/room/" + Uri.EscapeDataString("!foo:example.com"), new { actions = new[] { "notify" } })).EnsureOk();
        var woken = (await poll).EnsureOk().Json;
        var changed = woken.GetProperty("account_data").GetProperty("events").EnumerateArray().Single(e => e.GetProperty("type").GetString() == "m.push_rules");
        changed.GetProperty("content").GetProperty("global").GetProperty("room")[0].GetProperty("rule_id").GetString().Should().Be("!foo:example.com");
    }
}
