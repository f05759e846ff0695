using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class PasswordAndDeactivationTests(TestServer server) : IClassFixture<TestServer>
{
    private const string ChangePassword = "/_matrix/client/v3/account/password";
    private const string Deactivate = "/_matrix/client/v3/account/deactivate";

    [Fact]
    public async Task A_wrong_password_stage_answers_401_with_flows_session_and_M_FORBIDDEN()
    {
        var user = await RegisterAsync(server);
        var first = await user.PostAsync(ChangePassword, new { new_password = "new" });
        first.Status.Should().Be(HttpStatusCode.Unauthorized);
        first.Json.TryGetProperty("errcode", out _).Should().BeFalse();
        var session = first.Json.GetProperty("session").GetString();

        var wrong = await user.PostAsync(ChangePassword, new JsonObject { ["new_password"] = "new", ["auth"] = PasswordAuth(user.UserId!, session, "wrong") });
        wrong.Status.Should().Be(HttpStatusCode.Unauthorized);
        wrong.ErrCode.Should().Be("M_FORBIDDEN");
        wrong.Json.GetProperty("session").GetString().Should().Be(session);
        wrong.Json.GetProperty("flows")[0].GetProperty("stages")[0].GetString().Should().Be("m.login.password");
        wrong.Json.GetProperty("completed").EnumerateArray().Should().BeEmpty("a stage was attempted and none passed (Synapse lists completed: [])");

        (await user.PostAsync(ChangePassword, new JsonObject { ["new_password"] = "new", ["auth"] = PasswordAuth(user.UserId!, session) })).EnsureOk();
    }

    [Fact]
    public async Task The_password_of_another_account_is_403_not_a_failed_stage()
    {
        var user = await RegisterAsync(server);
        var other = await RegisterAsync(server);
        var first = await user.PostAsync(ChangePassword, new { new_password = "new" });
        var response = await user.PostAsync(ChangePassword, new JsonObject
        {
            ["new_password"] = "new", ["auth"] = PasswordAuth(other.UserId!, first.Json.GetProperty("session").GetString()),
        });
        response.Status.Should().Be(HttpStatusCode.Forbidden);
        response.ErrCode.Should().Be("M_FORBIDDEN");
    }

    [Fact]
    public async Task A_uia_session_cannot_be_used_by_another_user_or_for_another_operation()
    {
        var user = await RegisterAsync(server);
        var other = await RegisterAsync(server);
        var session = (await user.PostAsync(ChangePassword, new { new_password = "new" })).Json.GetProperty("session").GetString();
        (await other.PostAsync(ChangePassword, new JsonObject { ["new_password"] = "x", ["auth"] = PasswordAuth(other.UserId!, session) })).ErrCode.Should().Be("M_FORBIDDEN");
        (await user.PostAsync(Deactivate, new JsonObject { ["auth"] = PasswordAuth(user.UserId!, session) })).ErrCode.Should().Be("M_FORBIDDEN");
        (await user.PostAsync(Deactivate, new JsonObject { ["auth"] = PasswordAuth(user.UserId!, "no-such-session") })).ErrCode.Should().Be("M_UNKNOWN");
        (await user.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();
    }

    [Fact]
    public async Task Changing_the_password_logs_out_other_devices_by_default_and_keeps_this_one()
    {
        var user = await RegisterAsync(server);
        var other = await LoginAsync(server, user.UserId!);
        (await WithPasswordAsync(user, HttpMethod.Post, ChangePassword, new JsonObject { ["new_password"] = "brand new" })).EnsureOk();
        (await user.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();
        (await other.GetAsync("/_matrix/client/v3/account/whoami")).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        (await LoginAsync(server, user.UserId!, "brand new")).UserId.Should().Be(user.UserId);
        var old = await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/login", new { type = "m.login.password", user = user.UserId, password = Password });
        old.ErrCode.Should().Be("M_FORBIDDEN");
    }

    [Fact]
    public async Task With_logout_devices_false_other_devices_stay_logged_in()
    {
        var user = await RegisterAsync(server);
        var other = await LoginAsync(server, user.UserId!);
        (await WithPasswordAsync(user, HttpMethod.Post, ChangePassword, new JsonObject { ["new_password"] = "another", ["logout_devices"] = false })).EnsureOk();
        (await other.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();
    }

    [Fact]
    public async Task The_new_password_given_early_in_the_dance_is_kept_for_the_last_request()
    {
        var user = await RegisterAsync(server);
        var first = await user.PostAsync(ChangePassword, new { new_password = "early one" });
        (await user.PostAsync(ChangePassword, new JsonObject { ["auth"] = PasswordAuth(user.UserId!, first.Json.GetProperty("session").GetString()) })).EnsureOk();
        (await LoginAsync(server, user.UserId!, "early one")).UserId.Should().Be(user.UserId);
    }

    [Fact]
    public async Task A_password_change_without_a_new_password_is_M_MISSING_PARAM()
    {
        var user = await RegisterAsync(server);
        var response = await WithPasswordAsync(user, HttpMethod.Post, ChangePassword);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_MISSING_PARAM");
    }

    [Fact]
    public async Task Wrong_types_in_a_password_change_are_M_BAD_JSON()
    {
        var user = await RegisterAsync(server);
        (await user.PostAsync(ChangePassword, new { new_password = 5 })).ErrCode.Should().Be("M_BAD_JSON");
        (await user.PostAsync(ChangePassword, new { new_password = "x", logout_devices = "yes" })).ErrCode.Should().Be("M_BAD_JSON");
        (await user.SendAsync(HttpMethod.Post, ChangePassword, null, "nope")).ErrCode.Should().Be("M_NOT_JSON");
    }

    [Fact]
    public async Task Deactivation_logs_out_everything_removes_the_password_and_tells_the_listeners()
    {
        var user = await RegisterAsync(server);
        var other = await LoginAsync(server, user.UserId!);
        (await user.PutAsync($"/_matrix/client/v3/user/{user.UserId}/account_data/m.test", new { a = 1 })).EnsureOk();
        var answer = (await WithPasswordAsync(user, HttpMethod.Post, Deactivate)).EnsureOk();
        answer.Json.GetProperty("id_server_unbind_result").GetString().Should().Be("success");

        (await user.GetAsync("/_matrix/client/v3/account/whoami")).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        (await other.GetAsync("/_matrix/client/v3/account/whoami")).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        (await ScalarAsync<bool>(server, "SELECT deactivated FROM users WHERE user_id = @u", ("u", user.UserId))).Should().BeTrue();
        (await ScalarAsync<string>(server, "SELECT password_hash FROM users WHERE user_id = @u", ("u", user.UserId))).Should().BeNull();
        (await ScalarAsync<long>(server, "SELECT count(*) FROM account_data WHERE user_id = @u", ("u", user.UserId))).Should().Be(0);

        // Without erase the profile stays visible.
        (await new MatrixClient(server.Client).GetAsync($"/_matrix/client/v3/profile/{user.UserId}")).EnsureOk();
    }

    [Fact]
    public async Task Deactivation_with_erase_marks_the_account_erased_and_clears_its_profile()
    {
        var user = await RegisterAsync(server);
        (await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/avatar_url", new { avatar_url = "mxc://x/y" })).EnsureOk();
        (await WithPasswordAsync(user, HttpMethod.Post, Deactivate, new JsonObject { ["erase"] = true })).EnsureOk();
        (await ScalarAsync<bool>(server, "SELECT erased FROM users WHERE user_id = @u", ("u", user.UserId))).Should().BeTrue();
        var profile = (await new MatrixClient(server.Client).GetAsync($"/_matrix/client/v3/profile/{user.UserId}")).EnsureOk().Json;
        profile.EnumerateObject().Should().BeEmpty();
    }

    [Fact]
    public async Task An_erased_users_messages_stay_whole_for_those_who_were_there_and_are_redacted_for_later_joiners()
    {
        var creator = await RegisterAsync(server);
        var member = await RegisterAsync(server);
        var joiner = await RegisterAsync(server);
        var roomId = (await creator.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat" })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        var room = Uri.EscapeDataString(roomId);
        (await member.PostAsync($"/_matrix/client/v3/rooms/{room}/join", new { })).EnsureOk();
        var message = (await creator.PutAsync($"/_matrix/client/v3/rooms/{room}/send/m.room.message/t1", new { msgtype = "m.text", body = "body1" }))
            .EnsureOk().Json.GetProperty("event_id").GetString();
        (await joiner.PostAsync($"/_matrix/client/v3/rooms/{room}/join", new { })).EnsureOk();

        JsonElement Find(MatrixClient.Response page, string arrayPath) =>
            (arrayPath == "chunk" ? page.Json.GetProperty("chunk") : page.Json.GetProperty("rooms").GetProperty("join").GetProperty(roomId).GetProperty("timeline").GetProperty("events"))
                .EnumerateArray().Single(e => e.GetProperty("event_id").GetString() == message);
        Find((await joiner.GetAsync($"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=20")).EnsureOk(), "chunk")
            .GetProperty("content").GetProperty("body").GetString().Should().Be("body1", "nothing is erased yet");

        (await WithPasswordAsync(creator, HttpMethod.Post, Deactivate, new JsonObject { ["erase"] = true })).EnsureOk();

        foreach (var response in new[] { await member.GetAsync($"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=20"), await member.GetAsync("/_matrix/client/v3/sync") })
        {
            Find(response.EnsureOk(), response.Json.TryGetProperty("chunk", out _) ? "chunk" : "sync")
                .GetProperty("content").GetProperty("body").GetString().Should().Be("body1", "the member was joined when it was sent");
        }

        foreach (var response in new[] { await joiner.GetAsync($"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=20"), await joiner.GetAsync("/_matrix/client/v3/sync") })
        {
            var shown = Find(response.EnsureOk(), response.Json.TryGetProperty("chunk", out _) ? "chunk" : "sync");
            shown.GetProperty("type").GetString().Should().Be("m.room.message");
            shown.GetProperty("content").EnumerateObject().Should().BeEmpty("the joiner came after it and its sender is erased ({0})", response.Json.TryGetProperty("chunk", out _) ? "/messages" : "/sync");
        }
    }

    [Fact]
    public async Task Deactivation_with_a_wrong_password_is_a_failed_stage_and_changes_nothing()
    {
        var user = await RegisterAsync(server);
        var response = await WithPasswordAsync(user, HttpMethod.Post, Deactivate, null, "wrong");
        response.Status.Should().Be(HttpStatusCode.Unauthorized);
        response.ErrCode.Should().Be("M_FORBIDDEN");
        (await user.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();
        (await user.PostAsync(Deactivate, new { erase = "yes" })).ErrCode.Should().Be("M_BAD_JSON");
    }
}
