using System.Net;
using System.Text.Json.Nodes;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class ShortTokenServer() : ConfiguredServer(c => c with
{
    Accounts = c.Accounts with { RefreshableAccessTokenLifetime = TimeSpan.FromSeconds(1) },
});

public sealed class RefreshTokenTests(ShortTokenServer server) : IClassFixture<ShortTokenServer>
{
    private sealed record Tokens(string Access, string Refresh);

    private async Task<(MatrixClient User, Tokens Tokens)> LoginWithRefreshAsync()
    {
        var user = await RegisterAsync(server);
        var login = (await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/login", new
        {
            type = "m.login.password", user = user.UserId, password = Password, refresh_token = true,
        })).EnsureOk();
        login.Json.GetProperty("expires_in_ms").GetInt64().Should().Be(1000);
        return (user, new Tokens(login.Json.GetProperty("access_token").GetString()!, login.Json.GetProperty("refresh_token").GetString()!));
    }

    private async Task<MatrixClient.Response> RefreshAsync(string refreshToken) =>
        await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/refresh", new { refresh_token = refreshToken });

    private Task<MatrixClient.Response> WhoAmIAsync(string accessToken) =>
        new MatrixClient(server.Client) { AccessToken = accessToken }.GetAsync("/_matrix/client/v3/account/whoami");

    private async Task WaitUntilExpiredAsync(string accessToken)
    {
        for (var i = 0; i < 50; i++)
        {
            if ((await WhoAmIAsync(accessToken)).Status == HttpStatusCode.Unauthorized)
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException("the access token did not expire");
    }

    /// <summary>Revoked, not merely expired: 401 M_UNKNOWN_TOKEN without soft logout.</summary>
    private async Task ShouldBeRevokedAsync(string accessToken)
    {
        var response = await WhoAmIAsync(accessToken);
        response.ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        response.Json.GetProperty("soft_logout").GetBoolean().Should().BeFalse();
    }

    [Fact]
    public async Task An_expired_access_token_is_401_M_UNKNOWN_TOKEN_with_soft_logout()
    {
        var (_, tokens) = await LoginWithRefreshAsync();
        (await WhoAmIAsync(tokens.Access)).EnsureOk();
        await WaitUntilExpiredAsync(tokens.Access);
        var expired = await WhoAmIAsync(tokens.Access);
        expired.ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        expired.Json.GetProperty("soft_logout").GetBoolean().Should().BeTrue();
    }

    [Fact]
    public async Task Refresh_gives_a_new_pair_on_the_same_device()
    {
        var (_, tokens) = await LoginWithRefreshAsync();
        var device = (await WhoAmIAsync(tokens.Access)).EnsureOk().Json.GetProperty("device_id").GetString();
        await WaitUntilExpiredAsync(tokens.Access);

        var refreshed = (await RefreshAsync(tokens.Refresh)).EnsureOk().Json;
        refreshed.GetProperty("expires_in_ms").GetInt64().Should().Be(1000);
        var access = refreshed.GetProperty("access_token").GetString()!;
        refreshed.GetProperty("refresh_token").GetString().Should().NotBe(tokens.Refresh);
        (await WhoAmIAsync(access)).EnsureOk().Json.GetProperty("device_id").GetString().Should().Be(device);
    }

    [Fact]
    public async Task The_old_refresh_token_works_until_the_new_access_token_is_used_then_is_revoked()
    {
        var (_, tokens) = await LoginWithRefreshAsync();

        // A lost answer: the client may retry with the same refresh token, which replaces the unused first answer.
        var lost = (await RefreshAsync(tokens.Refresh)).EnsureOk().Json.GetProperty("access_token").GetString()!;
        var retried = (await RefreshAsync(tokens.Refresh)).EnsureOk().Json;
        await ShouldBeRevokedAsync(lost);

        (await WhoAmIAsync(retried.GetProperty("access_token").GetString()!)).EnsureOk();
        var spent = await RefreshAsync(tokens.Refresh);
        spent.Status.Should().Be(HttpStatusCode.Unauthorized);
        spent.ErrCode.Should().Be("M_UNKNOWN_TOKEN");

        // The old access token went with its refresh token.
        await ShouldBeRevokedAsync(tokens.Access);

        // The new refresh token carries on.
        (await RefreshAsync(retried.GetProperty("refresh_token").GetString()!)).EnsureOk();
    }

    [Fact]
    public async Task Refreshing_the_new_refresh_token_also_revokes_the_old_one()
    {
        var (_, tokens) = await LoginWithRefreshAsync();
        var second = (await RefreshAsync(tokens.Refresh)).EnsureOk().Json.GetProperty("refresh_token").GetString()!;
        (await RefreshAsync(second)).EnsureOk();
        (await RefreshAsync(tokens.Refresh)).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
    }

    [Fact]
    public async Task Unknown_and_missing_refresh_tokens_are_refused()
    {
        var unknown = await RefreshAsync("mrt_nonsense");
        unknown.Status.Should().Be(HttpStatusCode.Unauthorized);
        unknown.ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        (await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/refresh", new { })).ErrCode.Should().Be("M_MISSING_PARAM");
        (await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/refresh", new { refresh_token = 1 })).ErrCode.Should().Be("M_BAD_JSON");
    }

    [Fact]
    public async Task Logout_revokes_the_refresh_token_too()
    {
        var (_, tokens) = await LoginWithRefreshAsync();
        (await new MatrixClient(server.Client) { AccessToken = tokens.Access }.PostAsync("/_matrix/client/v3/logout", new { })).EnsureOk();
        (await RefreshAsync(tokens.Refresh)).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
    }
}

public sealed class ExpiringRefreshServer() : ConfiguredServer(c => c with
{
    Accounts = c.Accounts with { RefreshTokenLifetime = TimeSpan.FromMilliseconds(1) },
});

public sealed class ExpiringRefreshTokenTests(ExpiringRefreshServer server) : IClassFixture<ExpiringRefreshServer>
{
    [Fact]
    public async Task An_expired_refresh_token_is_401_with_soft_logout()
    {
        var user = await RegisterAsync(server);
        var login = (await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/login", new
        {
            type = "m.login.password", user = user.UserId, password = Password, refresh_token = true,
        })).EnsureOk();
        await Task.Delay(20);
        var refresh = await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/refresh", new { refresh_token = login.Json.GetProperty("refresh_token").GetString() });
        refresh.Status.Should().Be(HttpStatusCode.Unauthorized);
        refresh.ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        refresh.Json.GetProperty("soft_logout").GetBoolean().Should().BeTrue();
        refresh.Json.GetProperty("error").GetString().Should().Contain("expired");
    }
}

public sealed class NoRefreshServer() : ConfiguredServer(c => c with { Accounts = c.Accounts with { RefreshableAccessTokenLifetime = null } });

public sealed class NoRefreshTokenTests(NoRefreshServer server) : IClassFixture<NoRefreshServer>
{
    [Fact]
    public async Task With_refresh_tokens_off_a_login_asking_for_one_gets_a_token_that_does_not_expire()
    {
        var user = await RegisterAsync(server);
        var login = (await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/login", new JsonObject
        {
            ["type"] = "m.login.password", ["user"] = user.UserId, ["password"] = Password, ["refresh_token"] = true,
        })).EnsureOk();
        login.Json.TryGetProperty("refresh_token", out _).Should().BeFalse();
        login.Json.TryGetProperty("expires_in_ms", out _).Should().BeFalse();
    }
}
