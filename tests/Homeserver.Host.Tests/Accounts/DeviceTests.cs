using System.Net;
using System.Text.Json.Nodes;
using Homeserver.TestKit;
using Homeserver.Users;
using Microsoft.Extensions.DependencyInjection;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class DeviceTests(TestServer server) : IClassFixture<TestServer>
{
    [Fact]
    public async Task A_user_lists_only_their_own_devices_with_last_seen_data()
    {
        var user = await RegisterAsync(server);
        var second = await LoginAsync(server, user.UserId!);
        var stranger = await RegisterAsync(server);
        (await second.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();

        var devices = (await user.GetAsync("/_matrix/client/v3/devices")).EnsureOk().Json.GetProperty("devices");
        devices.EnumerateArray().Select(d => d.GetProperty("device_id").GetString()).Should().BeEquivalentTo([user.DeviceId, second.DeviceId]);
        var seen = devices.EnumerateArray().Single(d => d.GetProperty("device_id").GetString() == second.DeviceId);
        seen.GetProperty("last_seen_ip").GetString().Should().Be("127.0.0.1");
        seen.GetProperty("last_seen_ts").GetInt64().Should().BeCloseTo(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 60_000);
        seen.TryGetProperty("last_seen_user_agent", out _).Should().BeFalse();

        var theirs = await stranger.GetAsync("/_matrix/client/v3/devices/" + user.DeviceId);
        theirs.Status.Should().Be(HttpStatusCode.NotFound);
        theirs.ErrCode.Should().Be("M_NOT_FOUND");
    }

    [Fact]
    public async Task Last_seen_data_is_kept_in_memory_and_written_by_the_flush_not_by_each_request()
    {
        var user = await RegisterAsync(server);
        var tracker = server.Services.GetRequiredService<LastSeenTracker>();
        await tracker.FlushAsync(CancellationToken.None);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/_matrix/client/v3/account/whoami");
        request.Headers.Authorization = new("Bearer", user.AccessToken);
        request.Headers.UserAgent.ParseAdd("DeviceTests/1.0");
        (await server.Client.SendAsync(request)).EnsureSuccessStatusCode();

        const string Stored = "SELECT last_seen_user_agent FROM devices WHERE user_id = @u AND device_id = @d";
        tracker.Pending(user.UserId!, user.DeviceId!)!.UserAgent.Should().Be("DeviceTests/1.0");
        (await ScalarAsync<string>(server, Stored, ("u", user.UserId), ("d", user.DeviceId))).Should().NotBe("DeviceTests/1.0");

        await tracker.FlushAsync(CancellationToken.None);
        (await ScalarAsync<string>(server, Stored, ("u", user.UserId), ("d", user.DeviceId))).Should().Be("DeviceTests/1.0");
        (await ScalarAsync<string>(server, "SELECT last_seen_ip FROM devices WHERE user_id = @u AND device_id = @d", ("u", user.UserId), ("d", user.DeviceId))).Should().Be("127.0.0.1");
        tracker.Pending(user.UserId!, user.DeviceId!).Should().BeNull();
    }

    [Fact]
    public async Task X_Forwarded_For_is_ignored_on_a_listener_without_x_forwarded()
    {
        var user = await RegisterAsync(server);
        var device = await GetDeviceWithForwardedForAsync(server, user, "203.0.113.9");
        device.GetProperty("last_seen_ip").GetString().Should().Be("127.0.0.1");
    }

    /// <summary>GET /devices/{own device} with an X-Forwarded-For header: the answer shows what that very request recorded.</summary>
    internal static async Task<System.Text.Json.JsonElement> GetDeviceWithForwardedForAsync(TestServer server, MatrixClient user, string forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/_matrix/client/v3/devices/" + user.DeviceId);
        request.Headers.Authorization = new("Bearer", user.AccessToken);
        request.Headers.Add("X-Forwarded-For", forwardedFor);
        var answer = await server.Client.SendAsync(request);
        answer.EnsureSuccessStatusCode();
        return System.Text.Json.JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement;
    }

    [Fact]
    public async Task A_device_is_renamed_and_renaming_an_unknown_device_is_404()
    {
        var user = await RegisterAsync(server);
        (await user.PutAsync("/_matrix/client/v3/devices/" + user.DeviceId, new { display_name = "Work laptop" })).EnsureOk();
        (await user.GetAsync("/_matrix/client/v3/devices/" + user.DeviceId)).EnsureOk().Json.GetProperty("display_name").GetString().Should().Be("Work laptop");
        (await user.PutAsync("/_matrix/client/v3/devices/NOSUCH", new { display_name = "x" })).ErrCode.Should().Be("M_NOT_FOUND");
        var tooLong = await user.PutAsync("/_matrix/client/v3/devices/" + user.DeviceId, new { display_name = new string('x', 101) });
        tooLong.Status.Should().Be(HttpStatusCode.BadRequest);
        tooLong.ErrCode.Should().Be("M_TOO_LARGE");
        (await user.PutAsync("/_matrix/client/v3/devices/" + user.DeviceId, new { display_name = 3 })).ErrCode.Should().Be("M_BAD_JSON");
    }

    [Fact]
    public async Task Deleting_a_device_needs_uia_and_revokes_its_token()
    {
        var user = await RegisterAsync(server);
        var other = await LoginAsync(server, user.UserId!);
        (await WithPasswordAsync(user, HttpMethod.Delete, "/_matrix/client/v3/devices/" + other.DeviceId)).EnsureOk();
        (await other.GetAsync("/_matrix/client/v3/account/whoami")).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        (await user.GetAsync("/_matrix/client/v3/devices/" + other.DeviceId)).ErrCode.Should().Be("M_NOT_FOUND");
    }

    [Fact]
    public async Task Delete_without_a_body_still_gets_the_uia_challenge()
    {
        var user = await RegisterAsync(server);
        var response = await user.SendAsync(HttpMethod.Delete, "/_matrix/client/v3/devices/" + user.DeviceId, null);
        response.Status.Should().Be(HttpStatusCode.Unauthorized);
        response.Json.GetProperty("session").GetString().Should().NotBeEmpty();
    }

    [Fact]
    public async Task A_uia_session_for_one_device_cannot_delete_another()
    {
        var user = await RegisterAsync(server);
        var a = await LoginAsync(server, user.UserId!);
        var b = await LoginAsync(server, user.UserId!);
        var first = await user.DeleteAsync("/_matrix/client/v3/devices/" + a.DeviceId, new { });
        var session = first.Json.GetProperty("session").GetString();
        var refused = await user.DeleteAsync("/_matrix/client/v3/devices/" + b.DeviceId, new JsonObject { ["auth"] = PasswordAuth(user.UserId!, session) });
        refused.Status.Should().Be(HttpStatusCode.Forbidden);
        refused.ErrCode.Should().Be("M_FORBIDDEN");
        (await b.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();
    }

    [Fact]
    public async Task Delete_devices_deletes_several_and_ignores_unknown_ones()
    {
        var user = await RegisterAsync(server);
        var a = await LoginAsync(server, user.UserId!);
        var b = await LoginAsync(server, user.UserId!);
        var body = new JsonObject { ["devices"] = new JsonArray(a.DeviceId, b.DeviceId, "NOSUCHDEVICE") };
        (await WithPasswordAsync(user, HttpMethod.Post, "/_matrix/client/v3/delete_devices", body)).EnsureOk();
        (await a.GetAsync("/_matrix/client/v3/account/whoami")).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        (await b.GetAsync("/_matrix/client/v3/account/whoami")).ErrCode.Should().Be("M_UNKNOWN_TOKEN");
        (await user.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();
        (await user.PostAsync("/_matrix/client/v3/delete_devices", new { })).ErrCode.Should().Be("M_MISSING_PARAM");
        (await user.PostAsync("/_matrix/client/v3/delete_devices", new { devices = new[] { 1 } })).ErrCode.Should().Be("M_BAD_JSON");
    }

    [Fact]
    public async Task A_user_cannot_delete_another_users_device()
    {
        var user = await RegisterAsync(server);
        var stranger = await RegisterAsync(server);
        (await WithPasswordAsync(stranger, HttpMethod.Delete, "/_matrix/client/v3/devices/" + user.DeviceId)).EnsureOk();
        (await user.GetAsync("/_matrix/client/v3/account/whoami")).EnsureOk();
    }
}

public sealed class ForwardedServer() : ConfiguredServer(c => c with { Listeners = [c.Listeners[0] with { XForwarded = true }] });

public sealed class ForwardedDeviceTests(ForwardedServer server) : IClassFixture<ForwardedServer>
{
    [Fact]
    public async Task Behind_a_proxy_the_first_X_Forwarded_For_address_is_the_client()
    {
        var user = await RegisterAsync(server);
        var device = await DeviceTests.GetDeviceWithForwardedForAsync(server, user, "203.0.113.9, 10.0.0.1");
        device.GetProperty("last_seen_ip").GetString().Should().Be("203.0.113.9");
        (await DeviceTests.GetDeviceWithForwardedForAsync(server, user, "not-an-address")).GetProperty("last_seen_ip").GetString().Should().Be("127.0.0.1");
    }
}
