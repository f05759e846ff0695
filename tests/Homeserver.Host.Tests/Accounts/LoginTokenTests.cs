using System.Net;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class LoginTokenServer() : ConfiguredServer(c => c with { Accounts = c.Accounts with { LoginViaExistingSession = true } });

public sealed class LoginTokenTests(LoginTokenServer server) : IClassFixture<LoginTokenServer>
{
    private const string GetToken = "/_matrix/client/v1/login/get_token";

    [Fact]
    public async Task Get_login_advertises_the_token_flow_with_get_login_token()
    {
        var flows = (await new MatrixClient(server.Client).GetAsync("/_matrix/client/v3/login")).EnsureOk().Json.GetProperty("flows");
        var token = flows.EnumerateArray().Single(f => f.GetProperty("type").GetString() == "m.login.token");
        token.GetProperty("get_login_token").GetBoolean().Should().BeTrue();
        flows.EnumerateArray().Select(f => f.GetProperty("type").GetString()).Should().Contain("m.login.password");
    }

    [Fact]
    public async Task A_login_token_needs_uia_and_logs_a_new_device_in_once()
    {
        var user = await RegisterAsync(server);
        var answer = (await WithPasswordAsync(user, HttpMethod.Post, GetToken)).EnsureOk().Json;
        var token = answer.GetProperty("login_token").GetString()!;
        answer.GetProperty("expires_in_ms").GetInt64().Should().Be(5 * 60 * 1000);

        var login = (await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/login", new { type = "m.login.token", token })).EnsureOk();
        login.Json.GetProperty("user_id").GetString().Should().Be(user.UserId);
        login.Json.GetProperty("device_id").GetString().Should().NotBe(user.DeviceId);

        var again = await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/login", new { type = "m.login.token", token });
        again.Status.Should().Be(HttpStatusCode.Forbidden);
        again.ErrCode.Should().Be("M_FORBIDDEN");
    }

    [Fact]
    public async Task Every_token_request_asks_for_the_password_again()
    {
        var user = await RegisterAsync(server);
        var first = await user.PostAsync(GetToken, new { });
        var session = first.Json.GetProperty("session").GetString();
        (await user.PostAsync(GetToken, new { auth = PasswordAuth(user.UserId!, session) })).EnsureOk();
        var reuse = await user.PostAsync(GetToken, new { auth = new { session } });
        reuse.Status.Should().Be(HttpStatusCode.BadRequest);
        reuse.ErrCode.Should().Be("M_UNKNOWN");
    }

    [Fact]
    public async Task An_expired_or_unknown_login_token_is_403()
    {
        var user = await RegisterAsync(server);
        var token = (await WithPasswordAsync(user, HttpMethod.Post, GetToken)).EnsureOk().Json.GetProperty("login_token").GetString()!;
        await ExecuteAsync(server, "UPDATE login_tokens SET expires_ts = 1");
        var expired = await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/login", new { type = "m.login.token", token });
        expired.Status.Should().Be(HttpStatusCode.Forbidden);
        expired.ErrCode.Should().Be("M_FORBIDDEN");
        (await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/login", new { type = "m.login.token", token = "mlt_nope" })).ErrCode.Should().Be("M_FORBIDDEN");
        (await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/login", new { type = "m.login.token" })).ErrCode.Should().Be("M_MISSING_PARAM");
    }

    [Fact]
    public async Task The_capability_says_login_tokens_are_available()
    {
        var user = await RegisterAsync(server);
        (await user.GetAsync("/_matrix/client/v3/capabilities")).EnsureOk().Json.GetProperty("capabilities")
            .GetProperty("m.get_login_token").GetProperty("enabled").GetBoolean().Should().BeTrue();
    }
}

public sealed class LoginTokenDisabledTests(TestServer server) : IClassFixture<TestServer>
{
    [Fact]
    public async Task Without_login_via_existing_session_get_token_is_404_M_UNRECOGNIZED()
    {
        var user = await RegisterAsync(server);
        var response = await user.PostAsync("/_matrix/client/v1/login/get_token", new { });
        response.Status.Should().Be(HttpStatusCode.NotFound);
        response.ErrCode.Should().Be("M_UNRECOGNIZED");
        (await user.GetAsync("/_matrix/client/v3/capabilities")).EnsureOk().Json.GetProperty("capabilities")
            .GetProperty("m.get_login_token").GetProperty("enabled").GetBoolean().Should().BeFalse();
    }
}
