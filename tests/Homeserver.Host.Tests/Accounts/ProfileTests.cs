using System.Net;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class ProfileTests(TestServer server) : IClassFixture<TestServer>
{
    private MatrixClient Anonymous() => new(server.Client);

    [Fact]
    public async Task A_new_user_has_their_localpart_as_display_name_and_no_avatar()
    {
        var user = await RegisterAsync(server);
        var profile = (await Anonymous().GetAsync($"/_matrix/client/v3/profile/{user.UserId}")).EnsureOk().Json;
        profile.GetProperty("displayname").GetString().Should().Be(Localpart(user.UserId!));
        profile.TryGetProperty("avatar_url", out _).Should().BeFalse();
        var avatar = await Anonymous().GetAsync($"/_matrix/client/v3/profile/{user.UserId}/avatar_url");
        avatar.Status.Should().Be(HttpStatusCode.NotFound);
        avatar.ErrCode.Should().Be("M_NOT_FOUND");
    }

    [Fact]
    public async Task A_user_sets_and_reads_their_display_name_and_avatar()
    {
        var user = await RegisterAsync(server);
        (await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/displayname", new { displayname = "Alice Liddell" })).EnsureOk();
        (await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/avatar_url", new { avatar_url = "mxc://example.org/abc" })).EnsureOk();
        (await Anonymous().GetAsync($"/_matrix/client/v3/profile/{user.UserId}/displayname")).EnsureOk().Json.GetProperty("displayname").GetString().Should().Be("Alice Liddell");
        var profile = (await Anonymous().GetAsync($"/_matrix/client/r0/profile/{user.UserId}")).EnsureOk().Json;
        profile.GetProperty("avatar_url").GetString().Should().Be("mxc://example.org/abc");
        profile.GetProperty("displayname").GetString().Should().Be("Alice Liddell");
    }

    [Fact]
    public async Task An_empty_value_or_delete_removes_the_field()
    {
        var user = await RegisterAsync(server);
        (await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/displayname", new { displayname = "" })).EnsureOk();
        (await Anonymous().GetAsync($"/_matrix/client/v3/profile/{user.UserId}/displayname")).ErrCode.Should().Be("M_NOT_FOUND");
        (await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/avatar_url", new { avatar_url = "mxc://x/y" })).EnsureOk();
        (await user.DeleteAsync($"/_matrix/client/v3/profile/{user.UserId}/avatar_url")).EnsureOk();
        (await Anonymous().GetAsync($"/_matrix/client/v3/profile/{user.UserId}")).EnsureOk().Json.EnumerateObject().Should().BeEmpty();
    }

    [Fact]
    public async Task Changing_another_users_profile_is_403()
    {
        var user = await RegisterAsync(server);
        var other = await RegisterAsync(server);
        foreach (var field in new[] { "displayname", "avatar_url" })
        {
            var response = await user.PutAsync($"/_matrix/client/v3/profile/{other.UserId}/{field}", new Dictionary<string, string> { [field] = "mine" });
            response.Status.Should().Be(HttpStatusCode.Forbidden);
            response.ErrCode.Should().Be("M_FORBIDDEN");
        }

        (await user.DeleteAsync($"/_matrix/client/v3/profile/{other.UserId}/displayname")).ErrCode.Should().Be("M_FORBIDDEN");
        (await Anonymous().GetAsync($"/_matrix/client/v3/profile/{other.UserId}/displayname")).EnsureOk().Json.GetProperty("displayname").GetString().Should().Be(Localpart(other.UserId!));
    }

    [Fact]
    public async Task Values_over_the_length_limits_and_wrong_types_are_refused()
    {
        var user = await RegisterAsync(server);
        var longName = await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/displayname", new { displayname = new string('n', 257) });
        longName.Status.Should().Be(HttpStatusCode.BadRequest);
        longName.ErrCode.Should().Be("M_INVALID_PARAM");
        (await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/displayname", new { displayname = new string('n', 256) })).EnsureOk();
        (await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/avatar_url", new { avatar_url = "mxc://" + new string('a', 1000) })).ErrCode.Should().Be("M_INVALID_PARAM");
        (await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/displayname", new { displayname = 7 })).ErrCode.Should().Be("M_BAD_JSON");
        (await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/displayname", new { displayname = (string?)null })).ErrCode.Should().Be("M_BAD_JSON");
        (await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/displayname", new { other = "x" })).ErrCode.Should().Be("M_MISSING_PARAM");
        (await user.SendAsync(HttpMethod.Put, $"/_matrix/client/v3/profile/{user.UserId}/displayname", null, "{")).ErrCode.Should().Be("M_NOT_JSON");
    }

    [Fact]
    public async Task Unknown_local_users_are_404_invalid_ids_400_and_remote_users_not_available_yet()
    {
        var unknown = await Anonymous().GetAsync($"/_matrix/client/v3/profile/@nobody:{server.ServerName}");
        unknown.Status.Should().Be(HttpStatusCode.NotFound);
        unknown.ErrCode.Should().Be("M_NOT_FOUND");
        (await Anonymous().GetAsync("/_matrix/client/v3/profile/nobody")).ErrCode.Should().Be("M_INVALID_PARAM");
        var remote = await Anonymous().GetAsync("/_matrix/client/v3/profile/@someone:remote.example");
        remote.Status.Should().Be(HttpStatusCode.BadGateway);
    }

    [Fact]
    public async Task Setting_a_profile_needs_an_access_token()
    {
        var user = await RegisterAsync(server);
        (await Anonymous().PutAsync($"/_matrix/client/v3/profile/{user.UserId}/displayname", new { displayname = "x" })).ErrCode.Should().Be("M_MISSING_TOKEN");
    }
}

public sealed class FixedProfileServer() : ConfiguredServer(c => c with { Accounts = c.Accounts with { EnableSetDisplayName = false, EnableSetAvatarUrl = false } });

public sealed class FixedProfileTests(FixedProfileServer server) : IClassFixture<FixedProfileServer>
{
    [Fact]
    public async Task With_profile_changes_off_users_get_403_and_the_capabilities_say_so()
    {
        var user = await RegisterAsync(server);
        (await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/displayname", new { displayname = "x" })).ErrCode.Should().Be("M_FORBIDDEN");
        (await user.PutAsync($"/_matrix/client/v3/profile/{user.UserId}/avatar_url", new { avatar_url = "mxc://a/b" })).ErrCode.Should().Be("M_FORBIDDEN");
        var caps = (await user.GetAsync("/_matrix/client/v3/capabilities")).EnsureOk().Json.GetProperty("capabilities");
        caps.GetProperty("m.set_displayname").GetProperty("enabled").GetBoolean().Should().BeFalse();
        caps.GetProperty("m.set_avatar_url").GetProperty("enabled").GetBoolean().Should().BeFalse();

        var admin = await RegisterAdminAsync(server);
        (await admin.PutAsync($"/_matrix/client/v3/profile/{admin.UserId}/displayname", new { displayname = "Admin" })).EnsureOk();
    }
}
