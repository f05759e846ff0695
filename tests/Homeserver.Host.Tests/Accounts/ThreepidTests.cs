using System.Net;
using System.Text.Json.Nodes;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class ThreepidTests(TestServer server) : IClassFixture<TestServer>
{
    [Fact]
    public async Task A_new_account_has_no_third_party_identifiers_and_sees_only_its_own()
    {
        var user = await RegisterAsync(server);
        var other = await RegisterAsync(server);
        await ExecuteAsync(server, "INSERT INTO user_threepids (user_id, medium, address, validated_at, added_at) VALUES (@u, 'email', @a, 10, 20)",
            ("u", other.UserId), ("a", NewName() + "@example.org"));
        (await user.GetAsync("/_matrix/client/v3/account/3pid")).EnsureOk().Json.GetProperty("threepids").GetArrayLength().Should().Be(0);
        var theirs = (await other.GetAsync("/_matrix/client/v3/account/3pid")).EnsureOk().Json.GetProperty("threepids");
        theirs.GetArrayLength().Should().Be(1);
        theirs[0].GetProperty("medium").GetString().Should().Be("email");
        theirs[0].GetProperty("validated_at").GetInt64().Should().Be(10);
        theirs[0].GetProperty("added_at").GetInt64().Should().Be(20);
    }

    [Fact]
    public async Task Delete_removes_a_bound_address_and_answers_no_support_for_identity_servers()
    {
        var user = await RegisterAsync(server);
        var address = NewName() + "@example.org";
        await ExecuteAsync(server, "INSERT INTO user_threepids (user_id, medium, address, validated_at, added_at) VALUES (@u, 'email', @a, 1, 1)", ("u", user.UserId), ("a", address));
        var deleted = (await user.PostAsync("/_matrix/client/v3/account/3pid/delete", new { medium = "email", address })).EnsureOk();
        deleted.Json.GetProperty("id_server_unbind_result").GetString().Should().Be("no-support");
        (await user.GetAsync("/_matrix/client/v3/account/3pid")).EnsureOk().Json.GetProperty("threepids").GetArrayLength().Should().Be(0);
        (await user.PostAsync("/_matrix/client/v3/account/3pid/delete", new { medium = "email", address })).EnsureOk();
        (await user.PostAsync("/_matrix/client/v3/account/3pid/delete", new { medium = "fax", address })).ErrCode.Should().Be("M_INVALID_PARAM");
        (await user.PostAsync("/_matrix/client/v3/account/3pid/delete", new { medium = "email" })).ErrCode.Should().Be("M_MISSING_PARAM");
    }

    [Fact]
    public async Task Requesting_an_email_token_is_M_THREEPID_MEDIUM_NOT_SUPPORTED_without_email_sending()
    {
        var user = await RegisterAsync(server);
        var response = await user.PostAsync("/_matrix/client/v3/account/3pid/email/requestToken", new { client_secret = "abc", email = "a@example.org", send_attempt = 1 });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_THREEPID_MEDIUM_NOT_SUPPORTED");
    }

    [Fact]
    public async Task Requesting_an_msisdn_token_checks_the_request_then_is_M_THREEPID_MEDIUM_NOT_SUPPORTED()
    {
        var user = await RegisterAsync(server);
        var response = await user.PostAsync("/_matrix/client/v3/account/3pid/msisdn/requestToken", new { client_secret = "abc", country = "GB", phone_number = "07700900000", send_attempt = 1 });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_THREEPID_MEDIUM_NOT_SUPPORTED");
        (await user.PostAsync("/_matrix/client/v3/account/3pid/msisdn/requestToken", new { client_secret = "abc", country = "GB", send_attempt = 1 })).ErrCode.Should().Be("M_MISSING_PARAM");
        (await user.PostAsync("/_matrix/client/v3/account/3pid/msisdn/requestToken", new { client_secret = "not secret!", country = "GB", phone_number = "1", send_attempt = 1 })).ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task Adding_a_third_party_id_needs_uia_and_then_fails_as_no_session_can_have_been_validated()
    {
        var user = await RegisterAsync(server);
        var response = await WithPasswordAsync(user, HttpMethod.Post, "/_matrix/client/v3/account/3pid/add", new JsonObject { ["client_secret"] = "secret", ["sid"] = "1" });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_THREEPID_AUTH_FAILED");
        (await user.PostAsync("/_matrix/client/v3/account/3pid/add", new { sid = "1" })).ErrCode.Should().Be("M_MISSING_PARAM");
    }

    [Fact]
    public async Task The_deprecated_add_is_403_M_THREEPID_AUTH_FAILED_as_the_spec_says()
    {
        var user = await RegisterAsync(server);
        var response = await user.PostAsync("/_matrix/client/v3/account/3pid", new { three_pid_creds = new { client_secret = "s", id_server = "id.example.org", sid = "1" } });
        response.Status.Should().Be(HttpStatusCode.Forbidden);
        response.ErrCode.Should().Be("M_THREEPID_AUTH_FAILED");
        (await user.PostAsync("/_matrix/client/v3/account/3pid", new { })).ErrCode.Should().Be("M_MISSING_PARAM");
    }

    [Fact]
    public async Task Bind_cannot_be_verified_and_unbind_answers_no_support()
    {
        var user = await RegisterAsync(server);
        var bind = await user.PostAsync("/_matrix/client/v3/account/3pid/bind", new { client_secret = "s", id_access_token = "t", id_server = "id.example.org", sid = "1" });
        bind.Status.Should().Be(HttpStatusCode.Forbidden);
        bind.ErrCode.Should().Be("M_THREEPID_AUTH_FAILED");
        (await user.PostAsync("/_matrix/client/v3/account/3pid/bind", new { client_secret = "s" })).ErrCode.Should().Be("M_MISSING_PARAM");

        var unbind = (await user.PostAsync("/_matrix/client/v3/account/3pid/unbind", new { medium = "email", address = "a@example.org" })).EnsureOk();
        unbind.Json.GetProperty("id_server_unbind_result").GetString().Should().Be("no-support");
    }
}

public sealed class No3pidChangesServer() : ConfiguredServer(c => c with { Accounts = c.Accounts with { Enable3pidChanges = false } });

public sealed class No3pidChangesTests(No3pidChangesServer server) : IClassFixture<No3pidChangesServer>
{
    [Fact]
    public async Task With_3pid_changes_off_changes_are_400_M_FORBIDDEN_and_the_capability_says_so()
    {
        var user = await RegisterAsync(server);
        var delete = await user.PostAsync("/_matrix/client/v3/account/3pid/delete", new { medium = "email", address = "a@example.org" });
        delete.Status.Should().Be(HttpStatusCode.BadRequest);
        delete.ErrCode.Should().Be("M_FORBIDDEN");
        (await user.PostAsync("/_matrix/client/v3/account/3pid/email/requestToken", new { })).ErrCode.Should().Be("M_FORBIDDEN");
        (await user.GetAsync("/_matrix/client/v3/capabilities")).EnsureOk().Json.GetProperty("capabilities")
            .GetProperty("m.3pid_changes").GetProperty("enabled").GetBoolean().Should().BeFalse();
    }
}
