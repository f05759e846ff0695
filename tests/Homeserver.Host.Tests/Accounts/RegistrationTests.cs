using System.Net;
using System.Text.Json.Nodes;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class RegistrationTests(TestServer server) : IClassFixture<TestServer>
{
    private MatrixClient Anonymous() => new(server.Client);

    private async Task<string> StartSessionAsync(object body)
    {
        var first = await Anonymous().PostAsync("/_matrix/client/v3/register", body);
        first.Status.Should().Be(HttpStatusCode.Unauthorized);
        return first.Json.GetProperty("session").GetString()!;
    }

    [Fact]
    public async Task The_challenge_lists_the_dummy_flow_with_params_and_no_completed_stages()
    {
        var first = await Anonymous().PostAsync("/_matrix/client/v3/register", new { username = NewName(), password = Password });
        first.Status.Should().Be(HttpStatusCode.Unauthorized);
        first.Json.GetProperty("flows")[0].GetProperty("stages")[0].GetString().Should().Be("m.login.dummy");
        first.Json.GetProperty("params").EnumerateObject().Should().BeEmpty();
        first.Json.TryGetProperty("completed", out _).Should().BeFalse();
    }

    [Fact]
    public async Task Later_requests_of_the_dance_may_carry_only_auth_and_the_stored_parameters_apply()
    {
        var name = NewName();
        var session = await StartSessionAsync(new { username = name, password = Password, device_id = "FIRSTDEV", initial_device_display_name = "Laptop" });
        var done = (await Anonymous().PostAsync("/_matrix/client/v3/register", new { auth = new { type = "m.login.dummy", session } })).EnsureOk();
        done.Json.GetProperty("user_id").GetString().Should().Be($"@{name}:{server.ServerName}");
        done.Json.GetProperty("device_id").GetString().Should().Be("FIRSTDEV");

        var client = new MatrixClient(server.Client) { AccessToken = done.Json.GetProperty("access_token").GetString() };
        (await client.GetAsync("/_matrix/client/v3/devices/FIRSTDEV")).EnsureOk().Json.GetProperty("display_name").GetString().Should().Be("Laptop");
        (await LoginAsync(server, name)).UserId.Should().Be($"@{name}:{server.ServerName}");
    }

    [Fact]
    public async Task Retrying_a_completed_session_answers_with_the_same_account_instead_of_a_second_one()
    {
        var session = await StartSessionAsync(new { password = Password });
        var body = new { password = Password, auth = new { type = "m.login.dummy", session } };
        var first = (await Anonymous().PostAsync("/_matrix/client/v3/register", body)).EnsureOk();
        var again = (await Anonymous().PostAsync("/_matrix/client/v3/register", body)).EnsureOk();
        again.Json.GetProperty("user_id").GetString().Should().Be(first.Json.GetProperty("user_id").GetString());
        first.Json.GetProperty("user_id").GetString().Should().MatchRegex(@"^@\d+:");
    }

    [Fact]
    public async Task Inhibit_login_creates_the_account_without_a_device_or_token()
    {
        var name = NewName();
        var session = await StartSessionAsync(new { username = name, password = Password, inhibit_login = true });
        var done = (await Anonymous().PostAsync("/_matrix/client/v3/register", new { auth = new { type = "m.login.dummy", session } })).EnsureOk();
        done.Json.GetProperty("user_id").GetString().Should().Be($"@{name}:{server.ServerName}");
        done.Json.GetProperty("home_server").GetString().Should().Be(server.ServerName);
        done.Json.TryGetProperty("access_token", out _).Should().BeFalse();
        done.Json.TryGetProperty("device_id", out _).Should().BeFalse();
        (await ScalarAsync<long>(server, "SELECT count(*) FROM devices WHERE user_id = @u", ("u", $"@{name}:{server.ServerName}"))).Should().Be(0);
    }

    [Fact]
    public async Task Asking_for_a_refresh_token_gives_one_with_the_access_token_lifetime()
    {
        var session = await StartSessionAsync(new { username = NewName(), password = Password });
        var done = (await Anonymous().PostAsync("/_matrix/client/v3/register", new { refresh_token = true, auth = new { type = "m.login.dummy", session } })).EnsureOk();
        done.Json.GetProperty("refresh_token").GetString().Should().StartWith("mrt_");
        done.Json.GetProperty("expires_in_ms").GetInt64().Should().Be(5 * 60 * 1000);
    }

    [Fact]
    public async Task Registration_without_a_password_fails_with_M_MISSING_PARAM_after_the_dance()
    {
        var session = await StartSessionAsync(new { username = NewName() });
        var done = await Anonymous().PostAsync("/_matrix/client/v3/register", new { auth = new { type = "m.login.dummy", session } });
        done.Status.Should().Be(HttpStatusCode.BadRequest);
        done.ErrCode.Should().Be("M_MISSING_PARAM");
    }

    [Fact]
    public async Task An_unknown_session_is_refused()
    {
        var response = await Anonymous().PostAsync("/_matrix/client/v3/register", new { password = Password, auth = new { type = "m.login.dummy", session = "nope" } });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_UNKNOWN");
    }

    [Fact]
    public async Task A_stage_that_is_not_offered_is_answered_with_the_flows_and_M_UNRECOGNIZED()
    {
        var response = await Anonymous().PostAsync("/_matrix/client/v3/register", new { password = Password, auth = new { type = "m.login.registration_token", token = "x" } });
        response.Status.Should().Be(HttpStatusCode.Unauthorized);
        response.ErrCode.Should().Be("M_UNRECOGNIZED");
        response.Json.TryGetProperty("flows", out _).Should().BeTrue();
    }

    [Theory]
    [InlineData("12345", "Numeric user IDs")]
    [InlineData("_hidden", "may not begin with _")]
    [InlineData("", "cannot be empty")]
    public async Task Reserved_and_empty_usernames_are_M_INVALID_USERNAME(string username, string reason)
    {
        var response = await Anonymous().PostAsync("/_matrix/client/v3/register", new { username, password = Password });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_INVALID_USERNAME");
        response.Json.GetProperty("error").GetString().Should().Contain(reason);
    }

    [Fact]
    public async Task A_username_longer_than_a_user_id_may_be_is_M_INVALID_USERNAME()
    {
        var response = await Anonymous().PostAsync("/_matrix/client/v3/register", new { username = new string('a', 250), password = Password });
        response.ErrCode.Should().Be("M_INVALID_USERNAME");
    }

    [Fact]
    public async Task Usernames_are_lower_cased()
    {
        var name = NewName("MiXeD");
        var client = await RegisterAsync(server, name);
        client.UserId.Should().Be($"@{name.ToLowerInvariant()}:{server.ServerName}");
    }

    [Fact]
    public async Task A_password_over_512_characters_is_refused()
    {
        var response = await Anonymous().PostAsync("/_matrix/client/v3/register", new { username = NewName(), password = new string('p', 513) });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task An_unknown_kind_is_M_UNRECOGNIZED()
    {
        var response = await Anonymous().PostAsync("/_matrix/client/v3/register?kind=robot", new { password = Password });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_UNRECOGNIZED");
    }

    [Fact]
    public async Task Guest_registration_is_forbidden_unless_allowed()
    {
        var response = await Anonymous().PostAsync("/_matrix/client/v3/register?kind=guest", new { });
        response.Status.Should().Be(HttpStatusCode.Forbidden);
        response.ErrCode.Should().Be("M_FORBIDDEN");
    }

    [Fact]
    public async Task Registering_with_an_access_token_is_refused_as_synapse_does()
    {
        var client = await RegisterAsync(server);
        var response = await client.PostAsync("/_matrix/client/v3/register", new { username = NewName(), password = Password });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_UNKNOWN");
    }

    [Fact]
    public async Task A_device_display_name_over_100_characters_is_M_TOO_LARGE()
    {
        var session = await StartSessionAsync(new { username = NewName(), password = Password });
        var done = await Anonymous().PostAsync("/_matrix/client/v3/register", new
        {
            password = Password, initial_device_display_name = new string('d', 101), auth = new { type = "m.login.dummy", session },
        });
        done.Status.Should().Be(HttpStatusCode.BadRequest);
        done.ErrCode.Should().Be("M_TOO_LARGE");
    }

    [Fact]
    public async Task Available_says_true_for_a_free_name_and_gives_the_errors_for_taken_and_invalid_names()
    {
        (await Anonymous().GetAsync("/_matrix/client/v3/register/available?username=" + NewName())).EnsureOk().Json.GetProperty("available").GetBoolean().Should().BeTrue();

        var taken = await RegisterAsync(server);
        var localpart = Localpart(taken.UserId!);
        var inUse = await Anonymous().GetAsync("/_matrix/client/v3/register/available?username=" + localpart);
        inUse.Status.Should().Be(HttpStatusCode.BadRequest);
        inUse.ErrCode.Should().Be("M_USER_IN_USE");

        (await Anonymous().GetAsync("/_matrix/client/v3/register/available?username=bad%20name")).ErrCode.Should().Be("M_INVALID_USERNAME");
        (await Anonymous().GetAsync("/_matrix/client/v3/register/available")).ErrCode.Should().Be("M_MISSING_PARAM");
    }

    [Fact]
    public async Task The_r0_prefix_serves_registration_too()
    {
        var first = await Anonymous().PostAsync("/_matrix/client/r0/register", new { username = NewName(), password = Password });
        first.Status.Should().Be(HttpStatusCode.Unauthorized);
    }
}

public sealed class ClosedRegistrationServer() : ConfiguredServer(c => c with { EnableRegistration = false });

public sealed class ClosedRegistrationTests(ClosedRegistrationServer server) : IClassFixture<ClosedRegistrationServer>
{
    [Fact]
    public async Task Registration_and_availability_checks_are_403_M_FORBIDDEN_when_registration_is_off()
    {
        var client = new MatrixClient(server.Client);
        var register = await client.PostAsync("/_matrix/client/v3/register", new { username = NewName(), password = Password });
        register.Status.Should().Be(HttpStatusCode.Forbidden);
        register.ErrCode.Should().Be("M_FORBIDDEN");

        var available = await client.GetAsync("/_matrix/client/v3/register/available?username=" + NewName());
        available.Status.Should().Be(HttpStatusCode.Forbidden);
        available.ErrCode.Should().Be("M_FORBIDDEN");

        var validity = await client.GetAsync("/_matrix/client/v1/register/m.login.registration_token/validity?token=abc");
        validity.Status.Should().Be(HttpStatusCode.Forbidden);
        validity.ErrCode.Should().Be("M_FORBIDDEN");
    }
}

public sealed class GuestServer() : ConfiguredServer(c => c with { AllowGuestAccess = true });

public sealed class GuestTests(GuestServer server) : IClassFixture<GuestServer>
{
    private async Task<MatrixClient> RegisterGuestAsync(string? displayName = null)
    {
        var client = new MatrixClient(server.Client);
        var done = (await client.PostAsync("/_matrix/client/v3/register?kind=guest", new { initial_device_display_name = displayName })).EnsureOk();
        client.AccessToken = done.Json.GetProperty("access_token").GetString();
        client.UserId = done.Json.GetProperty("user_id").GetString();
        client.DeviceId = done.Json.GetProperty("device_id").GetString();
        return client;
    }

    [Fact]
    public async Task A_guest_gets_a_numeric_id_and_whoami_says_is_guest()
    {
        var guest = await RegisterGuestAsync("Guest phone");
        guest.UserId.Should().MatchRegex(@"^@\d+:");
        var whoami = (await guest.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();
        whoami.Json.GetProperty("is_guest").GetBoolean().Should().BeTrue();
        (await guest.GetAsync("/_matrix/client/v3/devices/" + guest.DeviceId)).EnsureOk().Json.GetProperty("display_name").GetString().Should().Be("Guest phone");
    }

    [Fact]
    public async Task Guests_are_refused_where_synapse_refuses_them_with_M_GUEST_ACCESS_FORBIDDEN()
    {
        var guest = await RegisterGuestAsync();
        foreach (var (method, path) in new[]
        {
            (HttpMethod.Get, $"/_matrix/client/v3/user/{guest.UserId}/account_data/m.test"),
            (HttpMethod.Post, $"/_matrix/client/v3/user/{guest.UserId}/filter"),
            (HttpMethod.Post, "/_matrix/client/v3/user_directory/search"),
            (HttpMethod.Post, "/_matrix/client/v3/account/password"),
            (HttpMethod.Get, "/_matrix/client/v3/account/3pid"),
        })
        {
            var response = await guest.SendAsync(method, path, new { search_term = "x", new_password = "x" });
            response.Status.Should().Be(HttpStatusCode.Forbidden, path);
            response.ErrCode.Should().Be("M_GUEST_ACCESS_FORBIDDEN", path);
        }
    }

    [Fact]
    public async Task A_guest_upgrades_to_a_full_account_keeping_its_user_id()
    {
        var guest = await RegisterGuestAsync();
        var localpart = Localpart(guest.UserId!);
        var anonymous = new MatrixClient(server.Client);
        var body = new JsonObject { ["username"] = localpart, ["password"] = Password, ["guest_access_token"] = guest.AccessToken };
        var first = await anonymous.PostAsync("/_matrix/client/v3/register", body);
        first.Status.Should().Be(HttpStatusCode.Unauthorized);
        body["auth"] = new JsonObject { ["type"] = "m.login.dummy", ["session"] = first.Json.GetProperty("session").GetString() };
        var done = (await anonymous.PostAsync("/_matrix/client/v3/register", body)).EnsureOk();
        done.Json.GetProperty("user_id").GetString().Should().Be(guest.UserId);

        var full = await LoginAsync(server, localpart);
        (await full.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk().Json.GetProperty("is_guest").GetBoolean().Should().BeFalse();

        // The guest's old token now belongs to a full account too: the cache was told.
        (await guest.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk().Json.GetProperty("is_guest").GetBoolean().Should().BeFalse();
    }

    [Fact]
    public async Task Taking_a_guest_id_without_that_guests_token_is_refused()
    {
        var guest = await RegisterGuestAsync();
        var other = await RegisterGuestAsync();
        var localpart = Localpart(guest.UserId!);
        var anonymous = new MatrixClient(server.Client);

        var withoutToken = await anonymous.PostAsync("/_matrix/client/v3/register", new { username = localpart, password = Password });
        withoutToken.ErrCode.Should().Be("M_INVALID_USERNAME");

        var withOtherToken = await anonymous.PostAsync("/_matrix/client/v3/register", new { username = localpart, password = Password, guest_access_token = other.AccessToken });
        withOtherToken.Status.Should().Be(HttpStatusCode.Forbidden);
        withOtherToken.ErrCode.Should().Be("M_FORBIDDEN");
    }
}
