using System.Net;
using System.Security.Cryptography;
using System.Text;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

public sealed class AccountTests(TestServer server) : IClassFixture<TestServer>
{
    private MatrixClient NewClient() => new(server.Client);

    [Fact]
    public async Task Register_without_auth_offers_the_dummy_flow_and_a_session()
    {
        var response = await NewClient().PostAsync("/_matrix/client/v3/register", new { username = "flowcheck", password = "pw" });
        response.Status.Should().Be(HttpStatusCode.Unauthorized);
        response.Json.GetProperty("session").GetString().Should().NotBeNullOrEmpty();
        response.Json.GetProperty("flows").EnumerateArray()
            .Select(f => string.Join(",", f.GetProperty("stages").EnumerateArray().Select(s => s.GetString())))
            .Should().Contain("m.login.dummy");
        response.Json.TryGetProperty("errcode", out _).Should().BeFalse();
    }

    [Fact]
    public async Task Register_with_the_dummy_stage_creates_a_user_who_can_call_whoami()
    {
        var client = await NewClient().RegisterAsync("Alice" + Guid.NewGuid().ToString("N")[..6]);
        client.UserId.Should().StartWith("@alice").And.EndWith(":" + server.ServerName);
        var whoami = (await client.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();
        whoami.Json.GetProperty("user_id").GetString().Should().Be(client.UserId);
        whoami.Json.GetProperty("device_id").GetString().Should().Be(client.DeviceId);
        whoami.Json.GetProperty("is_guest").GetBoolean().Should().BeFalse();
    }

    [Fact]
    public async Task Register_of_a_taken_username_is_M_USER_IN_USE()
    {
        var name = "taken" + Guid.NewGuid().ToString("N")[..6];
        await NewClient().RegisterAsync(name);
        var again = await NewClient().PostAsync("/_matrix/client/v3/register", new { username = name, password = "pw" });
        again.Status.Should().Be(HttpStatusCode.BadRequest);
        again.ErrCode.Should().Be("M_USER_IN_USE");
    }

    [Theory]
    [InlineData("bad:name")]
    [InlineData("spa ce")]
    [InlineData("new\nline")]
    [InlineData("ünïcode")]
    public async Task Register_of_an_invalid_username_is_M_INVALID_USERNAME(string username)
    {
        var response = await NewClient().PostAsync("/_matrix/client/v3/register", new { username, password = "pw" });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_INVALID_USERNAME");
    }

    [Fact]
    public async Task Register_with_a_body_that_is_not_json_is_M_NOT_JSON()
    {
        var response = await NewClient().SendAsync(HttpMethod.Post, "/_matrix/client/v3/register", null, "{not json");
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_NOT_JSON");
    }

    [Fact]
    public async Task Register_with_invalid_utf8_is_M_NOT_JSON()
    {
        using var content = new ByteArrayContent([.. "{\"username\": \"a"u8, 0x81, .. "\"}"u8]);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var response = await server.Client.PostAsync("/_matrix/client/v3/register", content);
        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).Should().Contain("M_NOT_JSON");
    }

    [Fact]
    public async Task Register_with_a_wrongly_typed_field_is_M_BAD_JSON()
    {
        var response = await NewClient().PostAsync("/_matrix/client/v3/register", new { username = 42, password = "pw" });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_BAD_JSON");
    }

    [Fact]
    public async Task Login_with_the_right_password_gives_a_new_device_and_well_known()
    {
        var name = "login" + Guid.NewGuid().ToString("N")[..6];
        var registered = await NewClient().RegisterAsync(name, "s3cret!");
        var login = (await NewClient().PostAsync("/_matrix/client/v3/login", new
        {
            type = "m.login.password",
            identifier = new { type = "m.id.user", user = name },
            password = "s3cret!",
        })).EnsureOk();
        login.Json.GetProperty("user_id").GetString().Should().Be(registered.UserId);
        login.Json.GetProperty("device_id").GetString().Should().NotBe(registered.DeviceId);
        login.Json.GetProperty("well_known").GetProperty("m.homeserver").GetProperty("base_url").GetString().Should().Be(server.Config.PublicBaseUrl.AbsoluteUri.TrimEnd('/'));

        var legacy = (await NewClient().PostAsync("/_matrix/client/v3/login", new { type = "m.login.password", user = registered.UserId, password = "s3cret!" })).EnsureOk();
        legacy.Json.GetProperty("user_id").GetString().Should().Be(registered.UserId);
    }

    [Fact]
    public async Task Login_with_a_wrong_password_or_unknown_user_is_403_M_FORBIDDEN()
    {
        var name = "wrongpw" + Guid.NewGuid().ToString("N")[..6];
        await NewClient().RegisterAsync(name, "right");
        foreach (var (user, password) in new[] { (name, "wrong"), ("nosuchuser", "right") })
        {
            var response = await NewClient().PostAsync("/_matrix/client/v3/login", new { type = "m.login.password", identifier = new { type = "m.id.user", user }, password });
            response.Status.Should().Be(HttpStatusCode.Forbidden);
            response.ErrCode.Should().Be("M_FORBIDDEN");
        }
    }

    [Fact]
    public async Task Missing_and_unknown_tokens_are_told_apart()
    {
        var missing = await NewClient().GetAsync("/_matrix/client/v3/account/whoami");
        missing.Status.Should().Be(HttpStatusCode.Unauthorized);
        missing.ErrCode.Should().Be("M_MISSING_TOKEN");

        var unknown = await new MatrixClient(server.Client) { AccessToken = "mat_nonsense" }.GetAsync("/_matrix/client/v3/account/whoami");
        unknown.Status.Should().Be(HttpStatusCode.Unauthorized);
        unknown.ErrCode.Should().Be("M_UNKNOWN_TOKEN");
    }

    [Fact]
    public async Task The_access_token_query_parameter_is_accepted()
    {
        var client = await NewClient().RegisterAsync();
        var anonymous = NewClient();
        var response = await anonymous.GetAsync("/_matrix/client/v3/account/whoami?access_token=" + Uri.EscapeDataString(client.AccessToken!));
        response.EnsureOk().Json.GetProperty("user_id").GetString().Should().Be(client.UserId);
    }

    [Fact]
    public async Task Logout_invalidates_the_token_immediately_even_though_tokens_are_cached()
    {
        var client = await NewClient().RegisterAsync();
        (await client.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();
        (await client.PostAsync("/_matrix/client/v3/logout", new { })).EnsureOk();
        (await client.GetAsync("/_matrix/client/v3/account/whoami")).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
    }

    [Fact]
    public async Task Logout_all_invalidates_every_session()
    {
        var name = "logoutall" + Guid.NewGuid().ToString("N")[..6];
        var first = await NewClient().RegisterAsync(name, "pw");
        var second = NewClient();
        var login = (await second.PostAsync("/_matrix/client/v3/login", new { type = "m.login.password", user = name, password = "pw" })).EnsureOk();
        second.AccessToken = login.Json.GetProperty("access_token").GetString();
        (await first.PostAsync("/_matrix/client/v3/logout/all", new { })).EnsureOk();
        (await first.GetAsync("/_matrix/client/v3/account/whoami")).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        (await second.GetAsync("/_matrix/client/v3/account/whoami")).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
    }

    [Fact]
    public async Task Shared_secret_registration_creates_an_admin_with_a_valid_mac_only()
    {
        var client = NewClient();
        var nonce = (await client.GetAsync("/_synapse/admin/v1/register")).EnsureOk().Json.GetProperty("nonce").GetString()!;
        var name = "admin" + Guid.NewGuid().ToString("N")[..6];
        var mac = Convert.ToHexStringLower(HMACSHA1.HashData(Encoding.UTF8.GetBytes("test_shared_secret"), Encoding.UTF8.GetBytes($"{nonce}\0{name}\0pw\0admin")));
        var bad = await client.PostAsync("/_synapse/admin/v1/register", new { nonce, username = name, password = "pw", admin = false, mac });
        bad.Status.Should().Be(HttpStatusCode.Forbidden);

        nonce = (await client.GetAsync("/_synapse/admin/v1/register")).EnsureOk().Json.GetProperty("nonce").GetString()!;
        mac = Convert.ToHexStringLower(HMACSHA1.HashData(Encoding.UTF8.GetBytes("test_shared_secret"), Encoding.UTF8.GetBytes($"{nonce}\0{name}\0pw\0admin")));
        var ok = (await client.PostAsync("/_synapse/admin/v1/register", new { nonce, username = name, password = "pw", admin = true, mac })).EnsureOk();
        ok.Json.GetProperty("user_id").GetString().Should().Be($"@{name}:{server.ServerName}");

        var reused = await client.PostAsync("/_synapse/admin/v1/register", new { nonce, username = name + "x", password = "pw", admin = true, mac });
        reused.Status.Should().Be(HttpStatusCode.BadRequest);
    }
}
