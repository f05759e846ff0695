using System.Net;
using System.Text.Json.Nodes;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class LoginTests(TestServer server) : IClassFixture<TestServer>
{
    private MatrixClient Anonymous() => new(server.Client);

    private Task<MatrixClient.Response> PasswordLoginAsync(JsonObject body)
    {
        body["type"] = "m.login.password";
        body["password"] ??= Password;
        return Anonymous().PostAsync("/_matrix/client/v3/login", body);
    }

    [Fact]
    public async Task Get_login_lists_the_password_flow_and_no_token_flow_when_login_tokens_are_off()
    {
        var flows = (await Anonymous().GetAsync("/_matrix/client/v3/login")).EnsureOk().Json.GetProperty("flows");
        flows.EnumerateArray().Select(f => f.GetProperty("type").GetString()).Should().Equal("m.login.password");
    }

    [Fact]
    public async Task A_user_logs_in_by_localpart_full_id_mixed_case_or_legacy_user_field()
    {
        var user = await RegisterAsync(server);
        var localpart = Localpart(user.UserId!);
        foreach (var body in new[]
        {
            new JsonObject { ["identifier"] = new JsonObject { ["type"] = "m.id.user", ["user"] = localpart } },
            new JsonObject { ["identifier"] = new JsonObject { ["type"] = "m.id.user", ["user"] = user.UserId } },
            new JsonObject { ["identifier"] = new JsonObject { ["type"] = "m.id.user", ["user"] = localpart.ToUpperInvariant() } },
            new JsonObject { ["user"] = localpart },
        })
        {
            var login = (await PasswordLoginAsync(body)).EnsureOk();
            login.Json.GetProperty("user_id").GetString().Should().Be(user.UserId);
            login.Json.GetProperty("home_server").GetString().Should().Be(server.ServerName);
            login.Json.GetProperty("well_known").GetProperty("m.homeserver").GetProperty("base_url").GetString().Should().Be(server.BaseAddress.AbsoluteUri.TrimEnd('/'));
            login.Json.TryGetProperty("refresh_token", out _).Should().BeFalse();
            login.Json.TryGetProperty("expires_in_ms", out _).Should().BeFalse();
        }
    }

    [Fact]
    public async Task A_user_logs_in_with_a_bound_email_address()
    {
        var user = await RegisterAsync(server);
        var email = NewName("mail") + "@example.org";
        await ExecuteAsync(server, "INSERT INTO user_threepids (user_id, medium, address, validated_at, added_at) VALUES (@u, 'email', @a, 1, 1)", ("u", user.UserId), ("a", email));
        var login = (await PasswordLoginAsync(new JsonObject
        {
            ["identifier"] = new JsonObject { ["type"] = "m.id.thirdparty", ["medium"] = "email", ["address"] = email.ToUpperInvariant() },
        })).EnsureOk();
        login.Json.GetProperty("user_id").GetString().Should().Be(user.UserId);

        var unknown = await PasswordLoginAsync(new JsonObject
        {
            ["identifier"] = new JsonObject { ["type"] = "m.id.thirdparty", ["medium"] = "email", ["address"] = "nobody@example.org" },
        });
        unknown.Status.Should().Be(HttpStatusCode.Forbidden);
        unknown.ErrCode.Should().Be("M_FORBIDDEN");
    }

    [Fact]
    public async Task Logging_in_with_an_existing_device_id_replaces_that_devices_tokens()
    {
        var user = await RegisterAsync(server);
        var first = await LoginAsync(server, user.UserId!, deviceId: "REUSED");
        (await first.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();
        var second = await LoginAsync(server, user.UserId!, deviceId: "REUSED");
        second.DeviceId.Should().Be("REUSED");

        (await second.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk().Json.GetProperty("device_id").GetString().Should().Be("REUSED");
        (await first.GetAsync("/_matrix/client/v3/account/whoami")).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        (await ScalarAsync<long>(server, "SELECT count(*) FROM access_tokens WHERE user_id = @u AND device_id = 'REUSED'", ("u", user.UserId))).Should().Be(1);

        // Other devices keep working.
        (await user.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();
    }

    [Fact]
    public async Task The_device_display_name_is_set_on_a_new_device_and_kept_on_an_existing_one()
    {
        var user = await RegisterAsync(server);
        var login = (await PasswordLoginAsync(new JsonObject { ["user"] = user.UserId, ["device_id"] = "NAMED", ["initial_device_display_name"] = "Desk" })).EnsureOk();
        var client = new MatrixClient(server.Client) { AccessToken = login.Json.GetProperty("access_token").GetString() };
        (await PasswordLoginAsync(new JsonObject { ["user"] = user.UserId, ["device_id"] = "NAMED", ["initial_device_display_name"] = "Other" })).EnsureOk();
        (await user.GetAsync("/_matrix/client/v3/devices/NAMED")).EnsureOk().Json.GetProperty("display_name").GetString().Should().Be("Desk");
        client.Should().NotBeNull();
    }

    [Fact]
    public async Task Tokens_are_stored_only_as_sha256_hashes()
    {
        var user = await RegisterAsync(server);
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(user.AccessToken!));
        (await ScalarAsync<long>(server, "SELECT count(*) FROM access_tokens WHERE token_hash = @h", ("h", hash))).Should().Be(1);
        (await ScalarAsync<long>(server, "SELECT count(*) FROM access_tokens WHERE encode(token_hash, 'escape') LIKE '%' || @t || '%'", ("t", user.AccessToken))).Should().Be(0);
    }

    [Fact]
    public async Task A_deactivated_account_cannot_log_in_and_gets_M_USER_DEACTIVATED()
    {
        var user = await RegisterAsync(server);
        (await WithPasswordAsync(user, HttpMethod.Post, "/_matrix/client/v3/account/deactivate")).EnsureOk();
        var login = await PasswordLoginAsync(new JsonObject { ["user"] = user.UserId });
        login.Status.Should().Be(HttpStatusCode.Forbidden);
        login.ErrCode.Should().Be("M_USER_DEACTIVATED");
    }

    public static TheoryData<string, string> BadLogins => new()
    {
        { """{"type": "m.login.password", "password": "x"}""", "M_MISSING_PARAM" },
        { """{"type": "m.login.password", "user": "someone"}""", "M_MISSING_PARAM" },
        { """{"password": "x", "user": "someone"}""", "M_MISSING_PARAM" },
        { """{"type": "m.login.password", "identifier": {"type": "m.id.user"}, "password": "x"}""", "M_MISSING_PARAM" },
        { """{"type": "m.login.password", "identifier": {"type": "m.id.phone", "country": "GB", "phone": "1"}, "password": "x"}""", "M_UNKNOWN" },
        { """{"type": "m.login.password", "identifier": "someone", "password": "x"}""", "M_BAD_JSON" },
        { """{"type": "m.login.password", "user": "someone", "password": 5}""", "M_BAD_JSON" },
        { """{"type": "m.login.password", "user": "someone", "password": "x", "refresh_token": "yes"}""", "M_BAD_JSON" },
        { """{"type": "m.login.token", "token": "x"}""", "M_UNKNOWN" },
        { """{"type": "m.login.magic"}""", "M_UNKNOWN" },
        { """[1, 2]""", "M_BAD_JSON" },
        { """{"type": """, "M_NOT_JSON" },
    };

    [Theory]
    [MemberData(nameof(BadLogins))]
    public async Task Malformed_logins_get_400_with_the_right_code(string body, string errcode)
    {
        var response = await Anonymous().SendAsync(HttpMethod.Post, "/_matrix/client/v3/login", null, body);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }

    [Fact]
    public async Task Logout_deletes_the_device_and_logout_all_deletes_every_device()
    {
        var user = await RegisterAsync(server);
        var other = await LoginAsync(server, user.UserId!);
        (await other.PostAsync("/_matrix/client/v3/logout", new { })).EnsureOk();
        (await ScalarAsync<long>(server, "SELECT count(*) FROM devices WHERE user_id = @u AND device_id = @d", ("u", user.UserId), ("d", other.DeviceId))).Should().Be(0);
        (await user.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();

        await LoginAsync(server, user.UserId!);
        (await user.PostAsync("/_matrix/client/v3/logout/all", new { })).EnsureOk();
        (await ScalarAsync<long>(server, "SELECT count(*) FROM devices WHERE user_id = @u", ("u", user.UserId))).Should().Be(0);
        (await user.PostAsync("/_matrix/client/v3/logout", new { })).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
    }
}
