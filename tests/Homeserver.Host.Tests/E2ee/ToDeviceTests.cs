using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests.E2ee;

public sealed class ToDeviceTests(TestServer server) : IClassFixture<TestServer>
{
    private static string SendPath(string type = "m.test", string? txnId = null) =>
        $"/_matrix/client/v3/sendToDevice/{type}/{txnId ?? Guid.NewGuid().ToString("N")}";

    private static JsonObject Messages(string userId, string deviceId, JsonObject content) =>
        new() { ["messages"] = new JsonObject { [userId] = new JsonObject { [deviceId] = content } } };

    [Fact]
    public async Task A_message_is_delivered_by_sync_until_a_later_sync_acknowledges_it()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        var start = await bob.SyncTokenAsync();
        (await alice.Client.PutAsync(SendPath("m.room_key_request"), Messages(bob.UserId, bob.DeviceId, new JsonObject { ["secret"] = 42 }))).EnsureOk();

        var first = await bob.SyncAsync(start);
        var message = first.ToDeviceEvents().Single();
        message.GetProperty("sender").GetString().Should().Be(alice.UserId);
        message.GetProperty("type").GetString().Should().Be("m.room_key_request");
        message.GetProperty("content").GetProperty("secret").GetInt32().Should().Be(42);

        (await bob.SyncAsync(start)).ToDeviceEvents().Should().ContainSingle("the answer was not acknowledged");
        var next = first.GetProperty("next_batch").GetString();
        (await bob.SyncAsync(next)).ToDeviceEvents().Should().BeEmpty();
        (await bob.SyncAsync()).ToDeviceEvents().Should().BeEmpty("acknowledged messages are deleted");
    }

    [Fact]
    public async Task A_repeated_transaction_is_delivered_once()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        var path = SendPath(txnId: "same-txn");
        (await alice.Client.PutAsync(path, Messages(bob.UserId, bob.DeviceId, new JsonObject { ["n"] = 1 }))).EnsureOk();
        (await alice.Client.PutAsync(path, Messages(bob.UserId, bob.DeviceId, new JsonObject { ["n"] = 2 }))).EnsureOk();
        var events = (await bob.SyncAsync()).ToDeviceEvents();
        events.Should().ContainSingle().Which.GetProperty("content").GetProperty("n").GetInt32().Should().Be(1);

        using var aliceElsewhere = await alice.LoginAgainAsync(server);
        (await aliceElsewhere.Client.PutAsync(path, Messages(bob.UserId, bob.DeviceId, new JsonObject { ["n"] = 3 }))).EnsureOk();
        (await bob.SyncAsync()).ToDeviceEvents().Should().HaveCount(2, "transaction IDs are per device");
    }

    [Fact]
    public async Task The_wildcard_reaches_every_device_of_the_user_and_no_one_else()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        using var bob2 = await bob.LoginAgainAsync(server);
        using var carol = await server.NewDeviceAsync();
        (await alice.Client.PutAsync(SendPath(), Messages(bob.UserId, "*", new JsonObject { ["hi"] = true }))).EnsureOk();
        (await bob.SyncAsync()).ToDeviceEvents().Should().ContainSingle();
        (await bob2.SyncAsync()).ToDeviceEvents().Should().ContainSingle();
        (await carol.SyncAsync()).ToDeviceEvents().Should().BeEmpty();
        (await alice.SyncAsync()).ToDeviceEvents().Should().BeEmpty();
    }

    [Fact]
    public async Task A_message_for_one_device_is_not_seen_by_the_users_other_devices()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        using var bob2 = await bob.LoginAgainAsync(server);
        (await alice.Client.PutAsync(SendPath(), Messages(bob.UserId, bob2.DeviceId, new JsonObject()))).EnsureOk();
        (await bob.SyncAsync()).ToDeviceEvents().Should().BeEmpty();
        (await bob2.SyncAsync()).ToDeviceEvents().Should().ContainSingle();
    }

    [Fact]
    public async Task A_message_wakes_a_long_polling_sync()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        var since = await bob.SyncTokenAsync();
        var watch = Stopwatch.StartNew();
        var poll = bob.SyncAsync(since, timeout: 20_000);
        await Task.Delay(300);
        poll.IsCompleted.Should().BeFalse();
        (await alice.Client.PutAsync(SendPath(), Messages(bob.UserId, bob.DeviceId, new JsonObject { ["wake"] = 1 }))).EnsureOk();
        (await poll).ToDeviceEvents().Should().ContainSingle();
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task More_messages_than_one_answer_holds_arrive_over_several_syncs_without_loss()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        const int total = 130;
        for (var i = 0; i < total; i++)
        {
            (await alice.Client.PutAsync(SendPath(), Messages(bob.UserId, bob.DeviceId, new JsonObject { ["i"] = i }))).EnsureOk();
        }

        var received = new List<int>();
        string? since = null;
        for (var round = 0; round < 5 && received.Count < total; round++)
        {
            var sync = await bob.SyncAsync(since);
            var events = sync.ToDeviceEvents();
            events.Count.Should().BeLessThanOrEqualTo(100);
            received.AddRange(events.Select(e => e.GetProperty("content").GetProperty("i").GetInt32()));
            since = sync.GetProperty("next_batch").GetString();
        }

        received.Should().Equal(Enumerable.Range(0, total), "in order of arrival, each once");
    }

    [Fact]
    public async Task Beyond_the_per_device_cap_the_oldest_messages_are_dropped()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        const int sent = 1010;
        var next = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next) - 1) < sent)
            {
                (await alice.Client.PutAsync(SendPath(txnId: "cap" + i), Messages(bob.UserId, bob.DeviceId, new JsonObject { ["i"] = i }))).EnsureOk();
            }
        }));

        var received = 0;
        string? since = null;
        for (var round = 0; round < 20; round++)
        {
            var sync = await bob.SyncAsync(since);
            var count = sync.ToDeviceEvents().Count;
            if (count == 0)
            {
                break;
            }

            received += count;
            since = sync.GetProperty("next_batch").GetString();
        }

        received.Should().Be(1000);
    }

    [Fact]
    public async Task Unknown_devices_and_remote_users_are_accepted_without_delivery()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        var body = new JsonObject
        {
            ["messages"] = new JsonObject
            {
                [bob.UserId] = new JsonObject { ["NOSUCHDEVICE"] = new JsonObject() },
                ["@carol:remote.example"] = new JsonObject { ["*"] = new JsonObject() },
                ["@nobody:" + server.ServerName] = new JsonObject { ["*"] = new JsonObject() },
            },
        };
        (await alice.Client.PutAsync(SendPath(), body)).EnsureOk();
        (await bob.SyncAsync()).ToDeviceEvents().Should().BeEmpty();
    }

    public static TheoryData<string, string> BadBodies => new()
    {
        { "{}", "M_MISSING_PARAM" },
        { """{"messages": []}""", "M_BAD_JSON" },
        { """{"messages": {"not-a-user": {}}}""", "M_INVALID_PARAM" },
        { """{"messages": {"@a:b": []}}""", "M_BAD_JSON" },
        { """{"messages": {"@a:b": {"DEV": "text"}}}""", "M_BAD_JSON" },
        { """{"messages": {"@a:b": {"DEV": {"n": 1.5}}}}""", "M_BAD_JSON" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_bodies_are_refused(string body, string errcode)
    {
        using var alice = await server.NewDeviceAsync();
        var response = await alice.Client.SendAsync(HttpMethod.Put, SendPath(), null, body);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }

    [Fact]
    public async Task Sending_needs_an_access_token()
    {
        var anonymous = new MatrixClient(server.Client);
        var response = await anonymous.PutAsync(SendPath(), new JsonObject { ["messages"] = new JsonObject() });
        response.Status.Should().Be(HttpStatusCode.Unauthorized);
        response.ErrCode.Should().Be("M_MISSING_TOKEN");
    }
}
