using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests.E2ee;

public sealed class KeyQueryClaimTests(TestServer server) : IClassFixture<TestServer>
{
    private const string Query = "/_matrix/client/v3/keys/query";
    private const string Claim = "/_matrix/client/v3/keys/claim";

    private static JsonObject ClaimBody(string userId, string deviceId, string algorithm = "signed_curve25519") =>
        new() { ["one_time_keys"] = new JsonObject { [userId] = new JsonObject { [deviceId] = algorithm } } };

    private static JsonElement? ClaimedKey(JsonElement answer, string userId, string deviceId) =>
        answer.GetProperty("one_time_keys").TryGetProperty(userId, out var u) && u.TryGetProperty(deviceId, out var d) ? d : null;

    [Fact]
    public async Task Query_returns_only_the_requested_devices()
    {
        using var alice = await server.NewDeviceAsync();
        using var second = await alice.LoginAgainAsync(server);
        await alice.UploadDeviceKeysAsync();
        await second.UploadDeviceKeysAsync();

        var all = await alice.QueryAsync(alice.UserId);
        all.GetProperty("device_keys").GetProperty(alice.UserId).EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo([alice.DeviceId, second.DeviceId]);

        var one = (await alice.Client.PostAsync(Query, new JsonObject { ["device_keys"] = new JsonObject { [alice.UserId] = new JsonArray(second.DeviceId) } })).EnsureOk().Json;
        one.GetProperty("device_keys").GetProperty(alice.UserId).EnumerateObject().Select(p => p.Name).Should().Equal(second.DeviceId);
    }

    [Fact]
    public async Task A_user_without_keys_gets_an_empty_map_and_remote_servers_are_failures()
    {
        using var alice = await server.NewDeviceAsync();
        var answer = (await alice.Client.PostAsync(Query, new JsonObject
        {
            ["device_keys"] = new JsonObject { [alice.UserId] = new JsonArray(), ["@bob:remote.example"] = new JsonArray() },
        })).EnsureOk().Json;
        answer.GetProperty("device_keys").GetProperty(alice.UserId).EnumerateObject().Should().BeEmpty();
        answer.GetProperty("device_keys").TryGetProperty("@bob:remote.example", out _).Should().BeFalse();
        answer.GetProperty("failures").GetProperty("remote.example").GetProperty("status").GetInt32().Should().Be(503);
    }

    public static TheoryData<string, string> BadQueries => new()
    {
        { "{}", "M_MISSING_PARAM" },
        { """{"device_keys": []}""", "M_BAD_JSON" },
        { """{"device_keys": {"not-a-user": []}}""", "M_INVALID_PARAM" },
        { """{"device_keys": {"@a:b": "DEVICE"}}""", "M_BAD_JSON" },
        { """{"device_keys": {"@a:b": [1]}}""", "M_BAD_JSON" },
        { """{"device_keys": {}, "timeout": "soon"}""", "M_BAD_JSON" },
    };

    [Theory]
    [MemberData(nameof(BadQueries))]
    public async Task Bad_queries_are_refused(string body, string errcode)
    {
        using var alice = await server.NewDeviceAsync();
        var response = await alice.Client.SendAsync(HttpMethod.Post, Query, null, body);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }

    public static TheoryData<string, string> BadClaims => new()
    {
        { "{}", "M_MISSING_PARAM" },
        { """{"one_time_keys": 3}""", "M_BAD_JSON" },
        { """{"one_time_keys": {"nobody": {}}}""", "M_INVALID_PARAM" },
        { """{"one_time_keys": {"@a:b": ["x"]}}""", "M_BAD_JSON" },
        { """{"one_time_keys": {"@a:b": {"DEV": 1}}}""", "M_BAD_JSON" },
    };

    [Theory]
    [MemberData(nameof(BadClaims))]
    public async Task Bad_claims_are_refused(string body, string errcode)
    {
        using var alice = await server.NewDeviceAsync();
        var response = await alice.Client.SendAsync(HttpMethod.Post, Claim, null, body);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }

    [Fact]
    public async Task Claims_hand_out_one_time_keys_in_upload_order_then_the_fallback_key()
    {
        using var bob = await server.NewDeviceAsync();
        using var alice = await server.NewDeviceAsync();
        await bob.UploadDeviceKeysAsync();
        var first = bob.SignedKey();
        var second = bob.SignedKey();
        var fallback = bob.SignedKey(fallback: true);
        await bob.UploadAsync(new JsonObject { ["one_time_keys"] = new JsonObject { ["signed_curve25519:zzz"] = first.DeepClone() } });
        await bob.UploadAsync(new JsonObject
        {
            ["one_time_keys"] = new JsonObject { ["signed_curve25519:aaa"] = second.DeepClone() },
            ["fallback_keys"] = new JsonObject { ["signed_curve25519:fb"] = fallback.DeepClone() },
        });
        (await bob.SyncAsync()).GetProperty("device_unused_fallback_key_types").EnumerateArray().Select(e => e.GetString()).Should().Equal("signed_curve25519");

        var claimed = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var answer = (await alice.Client.PostAsync(Claim, ClaimBody(bob.UserId, bob.DeviceId))).EnsureOk().Json;
            var key = ClaimedKey(answer, bob.UserId, bob.DeviceId)!.Value.EnumerateObject().Single();
            claimed.Add(key.Name);
            if (key.Name == "signed_curve25519:fb")
            {
                key.Value.GetProperty("key").GetString().Should().Be(fallback["key"]!.GetValue<string>());
                key.Value.GetProperty("fallback").GetBoolean().Should().BeTrue();
            }
        }

        claimed.Should().Equal("signed_curve25519:zzz", "signed_curve25519:aaa", "signed_curve25519:fb", "signed_curve25519:fb");
        var sync = await bob.SyncAsync();
        sync.GetProperty("device_one_time_keys_count").GetProperty("signed_curve25519").GetInt32().Should().Be(0);
        sync.GetProperty("device_unused_fallback_key_types").EnumerateArray().Should().BeEmpty();
        sync.GetProperty("org.matrix.msc2732.device_unused_fallback_key_types").EnumerateArray().Should().BeEmpty();
    }

    [Fact]
    public async Task A_fallback_key_uploaded_again_stays_used_and_a_new_one_is_unused()
    {
        using var bob = await server.NewDeviceAsync();
        using var alice = await server.NewDeviceAsync();
        await bob.UploadDeviceKeysAsync();
        var fallback = bob.SignedKey(fallback: true);
        await bob.UploadAsync(new JsonObject { ["fallback_keys"] = new JsonObject { ["signed_curve25519:fb1"] = fallback.DeepClone() } });
        (await alice.Client.PostAsync(Claim, ClaimBody(bob.UserId, bob.DeviceId))).EnsureOk();

        await bob.UploadAsync(new JsonObject { ["fallback_keys"] = new JsonObject { ["signed_curve25519:fb1"] = fallback.DeepClone() } });
        (await bob.SyncAsync()).GetProperty("device_unused_fallback_key_types").EnumerateArray().Should().BeEmpty();

        await bob.UploadAsync(new JsonObject { ["fallback_keys"] = new JsonObject { ["signed_curve25519:fb2"] = bob.SignedKey(fallback: true) } });
        (await bob.SyncAsync()).GetProperty("device_unused_fallback_key_types").EnumerateArray().Select(e => e.GetString()).Should().Equal("signed_curve25519");
    }

    [Fact]
    public async Task Concurrent_claims_of_the_last_one_time_key_hand_it_out_exactly_once()
    {
        using var bob = await server.NewDeviceAsync();
        await bob.UploadDeviceKeysAsync();
        await bob.UploadAsync(new JsonObject
        {
            ["one_time_keys"] = new JsonObject { ["signed_curve25519:last"] = bob.SignedKey() },
            ["fallback_keys"] = new JsonObject { ["signed_curve25519:fb"] = bob.SignedKey(fallback: true) },
        });
        var claimers = new List<TestDevice>();
        for (var i = 0; i < 8; i++)
        {
            claimers.Add(await server.NewDeviceAsync());
        }

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var claims = claimers.Select(async c =>
        {
            await gate.Task;
            return (await c.Client.PostAsync(Claim, ClaimBody(bob.UserId, bob.DeviceId))).EnsureOk().Json;
        }).ToList();
        gate.SetResult();
        var answers = await Task.WhenAll(claims);

        var names = answers.Select(a => ClaimedKey(a, bob.UserId, bob.DeviceId)!.Value.EnumerateObject().Single().Name).ToList();
        names.Count(n => n == "signed_curve25519:last").Should().Be(1);
        names.Count(n => n == "signed_curve25519:fb").Should().Be(claimers.Count - 1);
        claimers.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task Devices_without_keys_and_remote_users_are_absent_from_claims()
    {
        using var bob = await server.NewDeviceAsync();
        using var alice = await server.NewDeviceAsync();
        var answer = (await alice.Client.PostAsync(Claim, new JsonObject
        {
            ["one_time_keys"] = new JsonObject
            {
                [bob.UserId] = new JsonObject { [bob.DeviceId] = "signed_curve25519", ["NOSUCHDEVICE"] = "signed_curve25519" },
                ["@carol:remote.example"] = new JsonObject { ["DEV"] = "signed_curve25519" },
            },
        })).EnsureOk().Json;
        answer.GetProperty("one_time_keys").EnumerateObject().Should().BeEmpty();
        answer.GetProperty("failures").GetProperty("remote.example").GetProperty("status").GetInt32().Should().Be(503);
    }
}
