using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests.E2ee;

/// <summary>The sliding sync (MSC4186) extensions of the E2EE module: <c>to_device</c> (MSC3885) and <c>e2ee</c> (MSC3884).</summary>
public sealed class SlidingSyncE2eeTests(TestServer server) : IClassFixture<TestServer>
{
    private const string Path = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

    /// <summary>A request in Element X's shape: one small list and the extensions asked for.</summary>
    private static JsonObject Body(JsonObject? toDevice = null, bool e2ee = false)
    {
        var extensions = new JsonObject();
        if (toDevice is not null)
        {
            toDevice["enabled"] = true;
            extensions["to_device"] = toDevice;
        }

        if (e2ee)
        {
            extensions["e2ee"] = new JsonObject { ["enabled"] = true };
        }

        return new JsonObject
        {
            ["lists"] = new JsonObject
            {
                ["all"] = new JsonObject { ["ranges"] = new JsonArray(new JsonArray(0, 10)), ["timeline_limit"] = 1, ["required_state"] = new JsonArray() },
            },
            ["extensions"] = extensions,
        };
    }

    private static JsonObject ToDevice(string? since = null, int? limit = null)
    {
        var config = new JsonObject();
        if (since is not null)
        {
            config["since"] = since;
        }

        if (limit is not null)
        {
            config["limit"] = limit;
        }

        return config;
    }

    private static async Task<JsonElement> SlidingAsync(TestDevice device, JsonObject body, string? pos = null, int timeout = 0)
    {
        var url = Path + "?timeout=" + timeout + (pos is null ? string.Empty : "&pos=" + Uri.EscapeDataString(pos));
        return (await device.Client.PostAsync(url, body)).EnsureOk().Json;
    }

    private static async Task SendToDeviceAsync(TestDevice from, TestDevice to, int n)
    {
        var body = new JsonObject { ["messages"] = new JsonObject { [to.UserId] = new JsonObject { [to.DeviceId] = new JsonObject { ["n"] = n } } } };
        (await from.Client.PutAsync($"/_matrix/client/v3/sendToDevice/m.test/{Guid.NewGuid():N}", body)).EnsureOk();
    }

    private static string Pos(JsonElement response) => response.GetProperty("pos").GetString()!;

    private static JsonElement Extension(JsonElement response, string name) => response.GetProperty("extensions").GetProperty(name);

    private static string NextBatch(JsonElement response) => Extension(response, "to_device").GetProperty("next_batch").GetString()!;

    private static List<int> Numbers(JsonElement response) =>
        Extension(response, "to_device").GetProperty("events").EnumerateArray().Select(e => e.GetProperty("content").GetProperty("n").GetInt32()).ToList();

    private static List<string> Strings(JsonElement obj, string name) => obj.GetProperty(name).EnumerateArray().Select(e => e.GetString()!).ToList();

    [Fact]
    public async Task To_device_messages_are_delivered_until_acknowledged_then_deleted_and_never_delivered_again()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        var first = await SlidingAsync(bob, Body(ToDevice()));
        Numbers(first).Should().BeEmpty();
        var since = NextBatch(first);

        await SendToDeviceAsync(alice, bob, 1);
        await SendToDeviceAsync(alice, bob, 2);
        var second = await SlidingAsync(bob, Body(ToDevice(since)), Pos(first), timeout: 10_000);
        Numbers(second).Should().Equal(1, 2);
        var message = Extension(second, "to_device").GetProperty("events")[0];
        message.GetProperty("sender").GetString().Should().Be(alice.UserId);
        message.GetProperty("type").GetString().Should().Be("m.test");

        // The client never saw that answer and retries: the messages come again, since nothing acknowledged them.
        var retried = await SlidingAsync(bob, Body(ToDevice(since)), Pos(first), timeout: 10_000);
        Numbers(retried).Should().Equal(1, 2);

        // Acknowledged: gone from this connection, from a new one, and from /sync (the inbox is the device's).
        var third = await SlidingAsync(bob, Body(ToDevice(NextBatch(retried))), Pos(retried));
        Numbers(third).Should().BeEmpty();
        Numbers(await SlidingAsync(bob, Body(ToDevice()))).Should().BeEmpty("acknowledged messages are deleted");
        (await bob.SyncAsync()).ToDeviceEvents().Should().BeEmpty("acknowledged messages are deleted");
    }

    [Fact]
    public async Task A_limit_spreads_messages_over_several_answers_in_order_without_loss()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        for (var i = 0; i < 5; i++)
        {
            await SendToDeviceAsync(alice, bob, i);
        }

        var received = new List<int>();
        string? since = null;
        string? pos = null;
        for (var round = 0; round < 5; round++)
        {
            var response = await SlidingAsync(bob, Body(ToDevice(since, limit: 2)), pos);
            var numbers = Numbers(response);
            numbers.Count.Should().BeLessThanOrEqualTo(2);
            received.AddRange(numbers);
            since = NextBatch(response);
            pos = Pos(response);
        }

        received.Should().Equal([0, 1, 2, 3, 4], "each message once, in the order sent");
    }

    [Fact]
    public async Task A_to_device_message_wakes_a_waiting_long_poll()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        var first = await SlidingAsync(bob, Body(ToDevice()));
        var watch = Stopwatch.StartNew();
        var poll = SlidingAsync(bob, Body(ToDevice(NextBatch(first))), Pos(first), timeout: 20_000);
        await Task.Delay(500);
        poll.IsCompleted.Should().BeFalse("nothing has happened yet");
        await SendToDeviceAsync(alice, bob, 7);
        Numbers(await poll).Should().Equal(7);
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task The_e2ee_extension_reports_key_counts_and_another_users_device_change()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        using var stranger = await server.NewDeviceAsync();
        await alice.ShareRoomAsync(bob);
        await bob.UploadDeviceKeysAsync();
        await bob.UploadOneTimeKeysAsync(5);
        await bob.UploadAsync(new JsonObject { ["fallback_keys"] = new JsonObject { ["signed_curve25519:fb1"] = bob.SignedKey(fallback: true) } });

        var first = await SlidingAsync(bob, Body(e2ee: true));
        var e2ee = Extension(first, "e2ee");
        e2ee.GetProperty("device_one_time_keys_count").GetProperty("signed_curve25519").GetInt32().Should().Be(5);
        Strings(e2ee, "device_unused_fallback_key_types").Should().Equal("signed_curve25519");

        // Alice's new device, and a claim of one of bob's keys; a stranger's keys are none of bob's business.
        using var alice2 = await alice.LoginAgainAsync(server);
        await alice2.UploadDeviceKeysAsync();
        await stranger.UploadDeviceKeysAsync();
        var claim = new JsonObject { ["one_time_keys"] = new JsonObject { [bob.UserId] = new JsonObject { [bob.DeviceId] = "signed_curve25519" } } };
        (await alice.Client.PostAsync("/_matrix/client/v3/keys/claim", claim)).EnsureOk();

        var second = await SlidingAsync(bob, Body(e2ee: true), Pos(first), timeout: 10_000);
        e2ee = Extension(second, "e2ee");
        var lists = e2ee.GetProperty("device_lists");
        Strings(lists, "changed").Should().Contain(alice.UserId).And.NotContain(stranger.UserId);
        Strings(lists, "left").Should().BeEmpty();
        e2ee.GetProperty("device_one_time_keys_count").GetProperty("signed_curve25519").GetInt32().Should().Be(4);

        // Nothing changed since: the next answer has no device list news.
        var third = await SlidingAsync(bob, Body(e2ee: true), Pos(second));
        Strings(Extension(third, "e2ee").GetProperty("device_lists"), "changed").Should().BeEmpty();
    }

    [Fact]
    public async Task A_device_list_change_wakes_a_waiting_long_poll()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        await alice.ShareRoomAsync(bob);
        var first = await SlidingAsync(bob, Body(e2ee: true));
        var watch = Stopwatch.StartNew();
        var poll = SlidingAsync(bob, Body(e2ee: true), Pos(first), timeout: 20_000);
        await Task.Delay(500);
        poll.IsCompleted.Should().BeFalse("nothing has happened yet");
        await alice.UploadDeviceKeysAsync();
        Strings(Extension(await poll, "e2ee").GetProperty("device_lists"), "changed").Should().Contain(alice.UserId);
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), "the change ends the wait");
    }

    [Theory]
    [InlineData("""{"since": "s1_2_3"}""", "M_INVALID_PARAM")]
    [InlineData("""{"since": "-5"}""", "M_INVALID_PARAM")]
    [InlineData("""{"since": true}""", "M_BAD_JSON")]
    [InlineData("""{"limit": "ten"}""", "M_BAD_JSON")]
    [InlineData("""{"limit": -1}""", "M_BAD_JSON")]
    public async Task A_malformed_to_device_request_is_a_400(string config, string errcode)
    {
        using var bob = await server.NewDeviceAsync();
        var body = Body();
        var toDevice = JsonNode.Parse(config)!.AsObject();
        toDevice["enabled"] = true;
        body["extensions"]!["to_device"] = toDevice;
        var response = await bob.Client.PostAsync(Path, body);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }
}
