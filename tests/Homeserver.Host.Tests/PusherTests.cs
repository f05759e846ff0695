using System.Net;
using System.Text.Json;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

public sealed class PusherTests(TestServer server) : IClassFixture<TestServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    internal static object Pusher(string url, string pushkey, string appId = "org.example.app", object? extraData = null) => new
    {
        kind = "http",
        app_id = appId,
        app_display_name = "Example",
        device_display_name = "Phone",
        pushkey,
        lang = "en",
        profile_tag = "tag",
        data = extraData ?? new { url },
    };

    internal static async Task<string> OneToOneRoomAsync(MatrixClient alice, MatrixClient bob)
    {
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "private_chat", invite = new[] { bob.UserId } })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        (await bob.PostAsync($"/_matrix/client/v3/join/{Uri.EscapeDataString(roomId)}", new { })).EnsureOk();
        return roomId;
    }

    internal static async Task<string> SendAsync(MatrixClient client, string roomId, string json) =>
        (await client.SendAsync(HttpMethod.Put, $"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/send/m.room.message/{Guid.NewGuid():N}", null, json))
            .EnsureOk().Json.GetProperty("event_id").GetString()!;

    [Fact]
    public async Task Pushers_are_set_listed_replaced_and_deleted()
    {
        var alice = await NewUserAsync();
        (await alice.GetAsync("/_matrix/client/v3/pushers")).EnsureOk().Json.GetProperty("pushers").GetArrayLength().Should().Be(0);
        var url = "https://push.example.com/_matrix/push/v1/notify";
        (await alice.PostAsync("/_matrix/client/v3/pushers/set", Pusher(url, "key1", extraData: new { url, format = "event_id_only", custom = "x" }))).EnsureOk();
        var listed = (await alice.GetAsync("/_matrix/client/v3/pushers")).EnsureOk().Json.GetProperty("pushers");
        listed.GetArrayLength().Should().Be(1);
        listed[0].GetProperty("pushkey").GetString().Should().Be("key1");
        listed[0].GetProperty("profile_tag").GetString().Should().Be("tag");
        listed[0].GetProperty("data").GetProperty("custom").GetString().Should().Be("x");

        // Without append, another user registering the same app ID and pushkey takes it over.
        var bob = await NewUserAsync();
        (await bob.PostAsync("/_matrix/client/v3/pushers/set", Pusher(url, "key1"))).EnsureOk();
        (await alice.GetAsync("/_matrix/client/v3/pushers")).EnsureOk().Json.GetProperty("pushers").GetArrayLength().Should().Be(0);
        var carol = await NewUserAsync();
        (await carol.PostAsync("/_matrix/client/v3/pushers/set", new { kind = "http", app_id = "org.example.app", app_display_name = "Example", device_display_name = "Phone", pushkey = "key1", lang = "en", data = new { url }, append = true })).EnsureOk();
        (await bob.GetAsync("/_matrix/client/v3/pushers")).EnsureOk().Json.GetProperty("pushers").GetArrayLength().Should().Be(1);

        (await bob.PostAsync("/_matrix/client/v3/pushers/set", new { kind = (string?)null, app_id = "org.example.app", pushkey = "key1" })).EnsureOk();
        (await bob.GetAsync("/_matrix/client/v3/pushers")).EnsureOk().Json.GetProperty("pushers").GetArrayLength().Should().Be(0);
        (await carol.GetAsync("/_matrix/client/v3/pushers")).EnsureOk().Json.GetProperty("pushers").GetArrayLength().Should().Be(1);
    }

    [Theory]
    [InlineData("""{"kind": "http", "app_id": "a", "pushkey": "k"}""", "M_MISSING_PARAM")]
    [InlineData("""{"kind": "http", "app_id": "a", "app_display_name": "A", "device_display_name": "D", "pushkey": "k", "lang": "en", "data": {}}""", "M_MISSING_PARAM")]
    [InlineData("""{"kind": "http", "app_id": "a", "app_display_name": "A", "device_display_name": "D", "pushkey": "k", "lang": "en", "data": {"url": "https://x.example/other"}}""", "M_INVALID_PARAM")]
    [InlineData("""{"kind": "http", "app_id": "a", "app_display_name": "A", "device_display_name": "D", "pushkey": "k", "lang": "en", "data": {"url": "ftp://x.example/_matrix/push/v1/notify"}}""", "M_INVALID_PARAM")]
    [InlineData("""{"kind": "carrier-pigeon", "app_id": "a", "app_display_name": "A", "device_display_name": "D", "pushkey": "k", "lang": "en", "data": {"url": "https://x.example/_matrix/push/v1/notify"}}""", "M_INVALID_PARAM")]
    [InlineData("""{"kind": "http", "app_id": 5, "app_display_name": "A", "device_display_name": "D", "pushkey": "k", "lang": "en", "data": {"url": "https://x.example/_matrix/push/v1/notify"}}""", "M_BAD_JSON")]
    [InlineData("""{"kind": "http", "app_id": "a", "app_display_name": "A", "device_display_name": "D", "pushkey": "k", "lang": "en", "data": "x"}""", "M_BAD_JSON")]
    public async Task Invalid_pushers_are_refused(string body, string errcode)
    {
        var alice = await NewUserAsync();
        var response = await alice.SendAsync(HttpMethod.Post, "/_matrix/client/v3/pushers/set", null, body);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }

    [Fact]
    public async Task A_mention_is_pushed_to_the_gateway_in_the_full_format()
    {
        await using var gateway = await TestPushGateway.StartAsync();
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await OneToOneRoomAsync(alice, bob);
        (await alice.PostAsync("/_matrix/client/v3/pushers/set", Pusher(gateway.Url, "alice-key"))).EnsureOk();

        var eventId = await SendAsync(bob, roomId, $$$"""{"msgtype": "m.text", "body": "hello alice", "m.mentions": {"user_ids": ["{{{alice.UserId}}}"]}}""");
        var request = await gateway.NextAsync(b => b.GetProperty("notification").TryGetProperty("event_id", out var id) && id.GetString() == eventId);
        request.ContentType.Should().Be("application/json");
        request.ContentLength.Should().BeGreaterThan(0);
        var n = request.Body.GetProperty("notification");
        n.GetProperty("id").GetString().Should().Be(eventId);
        n.GetProperty("room_id").GetString().Should().Be(roomId);
        n.GetProperty("type").GetString().Should().Be("m.room.message");
        n.GetProperty("sender").GetString().Should().Be(bob.UserId);
        n.GetProperty("prio").GetString().Should().Be("high");
        n.GetProperty("content").GetProperty("body").GetString().Should().Be("hello alice");
        n.GetProperty("counts").GetProperty("unread").GetInt64().Should().Be(1);
        var device = n.GetProperty("devices")[0];
        device.GetProperty("app_id").GetString().Should().Be("org.example.app");
        device.GetProperty("pushkey").GetString().Should().Be("alice-key");
        device.GetProperty("pushkey_ts").GetInt64().Should().BeInRange(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 120, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 5);
        device.GetProperty("data").TryGetProperty("url", out _).Should().BeFalse("the url is removed from data");
        device.GetProperty("tweaks").GetProperty("highlight").GetBoolean().Should().BeTrue();
        device.GetProperty("tweaks").GetProperty("sound").GetString().Should().Be("default");
    }

    [Fact]
    public async Task The_event_id_only_format_sends_no_content_and_rejected_pushkeys_lose_their_pusher()
    {
        await using var gateway = await TestPushGateway.StartAsync();
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await OneToOneRoomAsync(alice, bob);
        (await alice.PostAsync("/_matrix/client/v3/pushers/set", Pusher(gateway.Url, "key-1", extraData: new { url = gateway.Url, format = "event_id_only" }))).EnsureOk();
        (await alice.PostAsync("/_matrix/client/v3/pushers/set", Pusher(gateway.Url, "key-2", appId: "org.example.other"))).EnsureOk();

        var first = await SendAsync(bob, roomId, """{"msgtype": "m.text", "body": "secret"}""");
        var idOnly = await gateway.NextAsync(b => b.GetProperty("notification").GetProperty("devices")[0].GetProperty("pushkey").GetString() == "key-1");
        var n = idOnly.Body.GetProperty("notification");
        n.GetProperty("event_id").GetString().Should().Be(first);
        n.TryGetProperty("content", out _).Should().BeFalse();
        n.TryGetProperty("sender", out _).Should().BeFalse();
        n.GetProperty("devices")[0].GetProperty("data").GetProperty("format").GetString().Should().Be("event_id_only");
        await gateway.NextAsync(b => b.GetProperty("notification").GetProperty("devices")[0].GetProperty("pushkey").GetString() == "key-2");

        gateway.Rejected.Add("key-1");
        await SendAsync(bob, roomId, """{"msgtype": "m.text", "body": "second"}""");
        await gateway.NextAsync(b => b.GetProperty("notification").GetProperty("devices")[0].GetProperty("pushkey").GetString() == "key-1");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            var pushers = (await alice.GetAsync("/_matrix/client/v3/pushers")).EnsureOk().Json.GetProperty("pushers");
            if (pushers.GetArrayLength() == 1)
            {
                pushers[0].GetProperty("pushkey").GetString().Should().Be("key-2");
                return;
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException("the rejected pusher was not removed");
    }

    [Fact]
    public async Task A_failing_gateway_is_retried_until_it_accepts()
    {
        await using var gateway = await TestPushGateway.StartAsync();
        gateway.Status = 503;
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await OneToOneRoomAsync(alice, bob);
        (await alice.PostAsync("/_matrix/client/v3/pushers/set", Pusher(gateway.Url, "retry-key"))).EnsureOk();
        var eventId = await SendAsync(bob, roomId, """{"msgtype": "m.text", "body": "eventually"}""");
        await Task.Delay(1500);
        gateway.Status = 200;
        var request = await gateway.NextAsync(b => b.GetProperty("notification").TryGetProperty("event_id", out var id) && id.GetString() == eventId, TimeSpan.FromSeconds(30));
        request.Body.GetProperty("notification").GetProperty("content").GetProperty("body").GetString().Should().Be("eventually");
    }
}
