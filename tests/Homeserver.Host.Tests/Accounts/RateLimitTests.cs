using System.Net;
using Homeserver.Core.Configuration;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

/// <summary>Rate limits on, with buckets small enough to empty in a test and refilling too slowly to matter.</summary>
public sealed class RateLimitedServer() : ConfiguredServer(c => c with
{
    AllowGuestAccess = true,
    Accounts = c.Accounts with { LoginViaExistingSession = true },
    RateLimits = new RateLimits
    {
        Enabled = true,
        Registration = new RateLimit(0.001, 1000),
        LoginAddress = new RateLimit(0.001, 1000),
        LoginAccount = new RateLimit(0.001, 2),
        LoginFailedAttempts = new RateLimit(0.001, 2),
        RegistrationTokenValidity = new RateLimit(0.001, 2),
    },
});

public sealed class RateLimitTests(RateLimitedServer server) : IClassFixture<RateLimitedServer>
{
    private static void ShouldBeLimited(MatrixClient.Response response)
    {
        response.Status.Should().Be(HttpStatusCode.TooManyRequests);
        response.ErrCode.Should().Be("M_LIMIT_EXCEEDED");
        var retryAfterMs = response.Json.GetProperty("retry_after_ms").GetInt64();
        retryAfterMs.Should().BeGreaterThan(0);
        var header = response.Raw.Headers.RetryAfter!.Delta!.Value.TotalSeconds;
        header.Should().Be(Math.Ceiling(retryAfterMs / 1000.0));
    }

    [Fact]
    public async Task Successful_logins_into_one_account_are_limited_per_account()
    {
        var user = await RegisterAsync(server);
        await LoginAsync(server, user.UserId!);
        await LoginAsync(server, user.UserId!);
        ShouldBeLimited(await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/login", new { type = "m.login.password", user = user.UserId, password = Password }));

        // Another account is not affected.
        var other = await RegisterAsync(server);
        (await LoginAsync(server, other.UserId!)).UserId.Should().Be(other.UserId);
    }

    [Fact]
    public async Task Failed_password_attempts_are_limited_per_account_even_with_the_right_password_next()
    {
        var user = await RegisterAsync(server);
        var anonymous = new MatrixClient(server.Client);
        for (var i = 0; i < 2; i++)
        {
            (await anonymous.PostAsync("/_matrix/client/v3/login", new { type = "m.login.password", user = user.UserId, password = "wrong" })).ErrCode.Should().Be("M_FORBIDDEN");
        }

        ShouldBeLimited(await anonymous.PostAsync("/_matrix/client/v3/login", new { type = "m.login.password", user = user.UserId, password = Password }));
    }

    [Fact]
    public async Task Registration_token_validity_checks_are_limited_per_address()
    {
        var anonymous = new MatrixClient(server.Client);
        HttpStatusCode last = HttpStatusCode.OK;
        MatrixClient.Response? response = null;
        for (var i = 0; i < 3 && last != HttpStatusCode.TooManyRequests; i++)
        {
            response = await anonymous.GetAsync("/_matrix/client/v1/register/m.login.registration_token/validity?token=x");
            last = response.Status;
        }

        ShouldBeLimited(response!);
    }

    [Fact]
    public async Task Login_token_requests_are_limited_to_one_a_minute_but_admins_are_exempt()
    {
        var user = await RegisterAsync(server);
        (await WithPasswordAsync(user, HttpMethod.Post, "/_matrix/client/v1/login/get_token")).EnsureOk();
        ShouldBeLimited(await WithPasswordAsync(user, HttpMethod.Post, "/_matrix/client/v1/login/get_token"));

        var admin = await RegisterAdminAsync(server);
        (await WithPasswordAsync(admin, HttpMethod.Post, "/_matrix/client/v1/login/get_token")).EnsureOk();
        (await WithPasswordAsync(admin, HttpMethod.Post, "/_matrix/client/v1/login/get_token")).EnsureOk();
    }
}

public sealed class RegistrationLimitedServer() : ConfiguredServer(c => c with
{
    AllowGuestAccess = true,
    RateLimits = new RateLimits { Enabled = true, Registration = new RateLimit(0.001, 2), LoginAddress = new RateLimit(0.001, 2) },
});

public sealed class RegistrationRateLimitTests(RegistrationLimitedServer server) : IClassFixture<RegistrationLimitedServer>
{
    [Fact]
    public async Task Registrations_and_logins_are_limited_per_client_address()
    {
        var anonymous = new MatrixClient(server.Client);
        (await anonymous.PostAsync("/_matrix/client/v3/register?kind=guest", new { })).EnsureOk();
        var user = await RegisterAsync(server);
        var limited = await anonymous.PostAsync("/_matrix/client/v3/register?kind=guest", new { });
        limited.Status.Should().Be(HttpStatusCode.TooManyRequests);
        limited.ErrCode.Should().Be("M_LIMIT_EXCEEDED");
        (await anonymous.PostAsync("/_matrix/client/v3/register", new { username = NewName(), password = Password })).ErrCode.Should().Be("M_LIMIT_EXCEEDED");

        await LoginAsync(server, user.UserId!);
        await LoginAsync(server, user.UserId!);
        (await anonymous.PostAsync("/_matrix/client/v3/login", new { type = "m.login.password", user = user.UserId, password = Password })).ErrCode.Should().Be("M_LIMIT_EXCEEDED");
    }
}
