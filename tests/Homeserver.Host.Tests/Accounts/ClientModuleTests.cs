using System.Net;
using System.Security.Cryptography;
using System.Text;
using Homeserver.Core;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class ClientModuleTests(TestServer server) : IClassFixture<TestServer>
{
    [Fact]
    public async Task Capabilities_list_room_versions_and_what_the_user_may_change()
    {
        var user = await RegisterAsync(server);
        var caps = (await user.GetAsync("/_matrix/client/v3/capabilities")).EnsureOk().Json.GetProperty("capabilities");
        var versions = caps.GetProperty("m.room_versions");
        versions.GetProperty("default").GetString().Should().Be(server.Config.DefaultRoomVersion);
        versions.GetProperty("available").EnumerateObject().Select(p => p.Name).Should().Equal(RoomVersion.All.Select(v => v.Id));
        versions.GetProperty("available").EnumerateObject().Select(p => p.Value.GetString()).Should().AllBe("stable");
        caps.GetProperty("m.change_password").GetProperty("enabled").GetBoolean().Should().BeTrue();
        caps.GetProperty("m.set_displayname").GetProperty("enabled").GetBoolean().Should().BeTrue();
        caps.GetProperty("m.set_avatar_url").GetProperty("enabled").GetBoolean().Should().BeTrue();
        caps.GetProperty("m.3pid_changes").GetProperty("enabled").GetBoolean().Should().BeTrue();
        (await new MatrixClient(server.Client).GetAsync("/_matrix/client/v3/capabilities")).ErrCode.Should().Be("M_MISSING_TOKEN");
    }

    [Fact]
    public async Task An_openid_token_is_verified_by_the_federation_userinfo_endpoint()
    {
        var user = await RegisterAsync(server);
        var token = (await user.PostAsync($"/_matrix/client/v3/user/{user.UserId}/openid/request_token", new { })).EnsureOk().Json;
        token.GetProperty("token_type").GetString().Should().Be("Bearer");
        token.GetProperty("matrix_server_name").GetString().Should().Be(server.ServerName);
        token.GetProperty("expires_in").GetInt64().Should().Be(3600);

        var anonymous = new MatrixClient(server.Client);
        var info = (await anonymous.GetAsync("/_matrix/federation/v1/openid/userinfo?access_token=" + Uri.EscapeDataString(token.GetProperty("access_token").GetString()!))).EnsureOk();
        info.Json.GetProperty("sub").GetString().Should().Be(user.UserId);

        // The OpenID token is not an access token, and an access token is not an OpenID token.
        (await new MatrixClient(server.Client) { AccessToken = token.GetProperty("access_token").GetString() }.GetAsync("/_matrix/client/v3/account/whoami")).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        var wrong = await anonymous.GetAsync("/_matrix/federation/v1/openid/userinfo?access_token=" + Uri.EscapeDataString(user.AccessToken!));
        wrong.Status.Should().Be(HttpStatusCode.Unauthorized);
        wrong.ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        (await anonymous.GetAsync("/_matrix/federation/v1/openid/userinfo")).ErrCode.Should().Be("M_MISSING_TOKEN");
    }

    [Fact]
    public async Task An_expired_openid_token_is_unknown_and_tokens_cannot_be_asked_for_others()
    {
        var user = await RegisterAsync(server);
        var other = await RegisterAsync(server);
        var token = (await user.PostAsync($"/_matrix/client/v3/user/{user.UserId}/openid/request_token", new { })).EnsureOk().Json.GetProperty("access_token").GetString()!;
        await ExecuteAsync(server, "UPDATE openid_tokens SET expires_ts = 1 WHERE user_id = @u", ("u", user.UserId));
        (await new MatrixClient(server.Client).GetAsync("/_matrix/federation/v1/openid/userinfo?access_token=" + Uri.EscapeDataString(token))).ErrCode.Should().Be("M_UNKNOWN_TOKEN");

        var forOther = await user.PostAsync($"/_matrix/client/v3/user/{other.UserId}/openid/request_token", new { });
        forOther.Status.Should().Be(HttpStatusCode.Forbidden);
        forOther.ErrCode.Should().Be("M_FORBIDDEN");
    }

    [Fact]
    public async Task Without_a_turn_configuration_turnServer_is_an_empty_object()
    {
        var user = await RegisterAsync(server);
        (await user.GetAsync("/_matrix/client/v3/voip/turnServer")).EnsureOk().Json.EnumerateObject().Should().BeEmpty();
        (await new MatrixClient(server.Client).GetAsync("/_matrix/client/v3/voip/turnServer")).ErrCode.Should().Be("M_MISSING_TOKEN");
    }

    [Fact]
    public async Task Third_party_protocols_is_an_empty_object_without_bridges()
    {
        var user = await RegisterAsync(server);
        (await user.GetAsync("/_matrix/client/v3/thirdparty/protocols")).EnsureOk().Json.EnumerateObject().Should().BeEmpty();
        (await new MatrixClient(server.Client).GetAsync("/_matrix/client/v3/thirdparty/protocols")).ErrCode.Should().Be("M_MISSING_TOKEN");
    }
}

public sealed class TurnServerWithSecret() : ConfiguredServer(c => c with
{
    Accounts = c.Accounts with
    {
        Turn = new Homeserver.Core.Configuration.TurnConfig
        {
            Uris = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
            SharedSecret = "coturn-secret",
            UserLifetime = TimeSpan.FromHours(2),
        },
    },
});

public sealed class TurnWithSecretTests(TurnServerWithSecret server) : IClassFixture<TurnServerWithSecret>
{
    [Fact]
    public async Task Time_limited_credentials_are_the_hmac_sha1_of_expiry_and_user_id_as_coturn_expects()
    {
        var user = await RegisterAsync(server);
        var turn = (await user.GetAsync("/_matrix/client/v3/voip/turnServer")).EnsureOk().Json;
        turn.GetProperty("ttl").GetInt64().Should().Be(7200);
        Strings(turn.GetProperty("uris")).Should().Equal("turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349");

        var username = turn.GetProperty("username").GetString()!;
        var parts = username.Split(':', 2);
        parts[1].Should().Be(user.UserId);
        long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture).Should().BeCloseTo(DateTimeOffset.UtcNow.AddHours(2).ToUnixTimeSeconds(), 60);
        var expected = Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes("coturn-secret"), Encoding.UTF8.GetBytes(username)));
        turn.GetProperty("password").GetString().Should().Be(expected);
    }
}

public sealed class TurnServerWithFixedCredentials() : ConfiguredServer(c => c with
{
    AllowGuestAccess = true,
    Accounts = c.Accounts with
    {
        Turn = new Homeserver.Core.Configuration.TurnConfig { Uris = ["turn:t.example.org"], Username = "fixed", Password = "pw", AllowGuests = false },
    },
});

public sealed class TurnWithFixedCredentialsTests(TurnServerWithFixedCredentials server) : IClassFixture<TurnServerWithFixedCredentials>
{
    [Fact]
    public async Task Fixed_credentials_are_handed_out_and_guests_are_refused_when_configured()
    {
        var user = await RegisterAsync(server);
        var turn = (await user.GetAsync("/_matrix/client/v3/voip/turnServer")).EnsureOk().Json;
        turn.GetProperty("username").GetString().Should().Be("fixed");
        turn.GetProperty("password").GetString().Should().Be("pw");

        var guest = new MatrixClient(server.Client);
        guest.AccessToken = (await guest.PostAsync("/_matrix/client/v3/register?kind=guest", new { })).EnsureOk().Json.GetProperty("access_token").GetString();
        var refused = await guest.GetAsync("/_matrix/client/v3/voip/turnServer");
        refused.Status.Should().Be(HttpStatusCode.Forbidden);
        refused.ErrCode.Should().Be("M_GUEST_ACCESS_FORBIDDEN");
    }
}
