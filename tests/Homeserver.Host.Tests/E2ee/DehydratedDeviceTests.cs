using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests.E2ee;

public sealed class DehydratedDeviceTests(TestServer server) : IClassFixture<TestServer>
{
    private const string Prefix = "/_matrix/client/unstable/org.matrix.msc3814.v1";

    private static JsonObject PutBody(TestDevice owner, string deviceId, TestSigningKey key, string account = "pickled") => new()
    {
        ["device_id"] = deviceId,
        ["device_data"] = new JsonObject { ["algorithm"] = "org.matrix.msc3814.v1.olm", ["account"] = account },
        ["initial_device_display_name"] = "Dehydrated device",
        ["device_keys"] = owner.DeviceKeys(deviceId, key),
        ["one_time_keys"] = new JsonObject { ["signed_curve25519:d1"] = owner.SignedKey(deviceId: deviceId, key: key) },
        ["fallback_keys"] = new JsonObject { ["signed_curve25519:df"] = owner.SignedKey(fallback: true, deviceId: deviceId, key: key) },
    };

    [Fact]
    public async Task Versions_advertises_dehydrated_devices_and_cross_signing()
    {
        var features = (await new MatrixClient(server.Client).GetAsync("/_matrix/client/versions")).EnsureOk().Json.GetProperty("unstable_features");
        features.GetProperty("org.matrix.msc3814").GetBoolean().Should().BeTrue();
        features.GetProperty("org.matrix.e2e_cross_signing").GetBoolean().Should().BeTrue();
    }

    [Fact]
    public async Task Without_a_dehydrated_device_get_and_delete_are_not_found()
    {
        using var alice = await server.NewDeviceAsync();
        var get = await alice.Client.GetAsync(Prefix + "/dehydrated_device");
        get.Status.Should().Be(HttpStatusCode.NotFound);
        get.ErrCode.Should().Be("M_NOT_FOUND");
        (await alice.Client.DeleteAsync(Prefix + "/dehydrated_device")).ErrCode.Should().Be("M_NOT_FOUND");
    }

    [Fact]
    public async Task A_dehydrated_device_is_stored_receives_messages_and_hands_them_to_the_next_login()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        using var dehydratedKey = new TestSigningKey();
        var put = (await alice.Client.PutAsync(Prefix + "/dehydrated_device", PutBody(alice, "DEHYDRATED1", dehydratedKey))).EnsureOk().Json;
        put.GetProperty("device_id").GetString().Should().Be("DEHYDRATED1");

        var get = (await alice.Client.GetAsync(Prefix + "/dehydrated_device")).EnsureOk().Json;
        get.GetProperty("device_id").GetString().Should().Be("DEHYDRATED1");
        get.GetProperty("device_data").GetProperty("account").GetString().Should().Be("pickled");
        var keys = (await bob.QueryAsync(alice.UserId)).GetProperty("device_keys").GetProperty(alice.UserId);
        keys.GetProperty("DEHYDRATED1").GetProperty("keys").GetProperty("ed25519:DEHYDRATED1").GetString().Should().Be(dehydratedKey.PublicKey);
        var claim = (await bob.Client.PostAsync("/_matrix/client/v3/keys/claim", new JsonObject
        {
            ["one_time_keys"] = new JsonObject { [alice.UserId] = new JsonObject { ["DEHYDRATED1"] = "signed_curve25519" } },
        })).EnsureOk().Json;
        claim.GetProperty("one_time_keys").GetProperty(alice.UserId).GetProperty("DEHYDRATED1").TryGetProperty("signed_curve25519:d1", out _).Should().BeTrue();

        for (var i = 0; i < 3; i++)
        {
            (await bob.Client.PutAsync($"/_matrix/client/v3/sendToDevice/m.room.encrypted/t{i}", new JsonObject
            {
                ["messages"] = new JsonObject { [alice.UserId] = new JsonObject { ["DEHYDRATED1"] = new JsonObject { ["i"] = i } } },
            })).EnsureOk();
        }

        var page1 = (await alice.Client.GetAsync(Prefix + "/dehydrated_device/DEHYDRATED1/events?limit=2")).EnsureOk().Json;
        page1.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("content").GetProperty("i").GetInt32()).Should().Equal(0, 1);
        page1.GetProperty("events")[0].GetProperty("sender").GetString().Should().Be(bob.UserId);
        var next = page1.GetProperty("next_batch").GetString()!;
        var page2 = (await alice.Client.GetAsync(Prefix + "/dehydrated_device/DEHYDRATED1/events?limit=2&from=" + next)).EnsureOk().Json;
        page2.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("content").GetProperty("i").GetInt32()).Should().Equal(2);
        page2.TryGetProperty("next_batch", out _).Should().BeFalse("nothing more: the client stops");

        var post = (await alice.Client.PostAsync(Prefix + "/dehydrated_device/DEHYDRATED1/events", new JsonObject { ["next_batch"] = next })).EnsureOk().Json;
        post.GetProperty("events").GetArrayLength().Should().Be(1);
        post.GetProperty("next_batch").GetString().Should().StartWith("d");
    }

    [Fact]
    public async Task A_new_dehydrated_device_replaces_the_old_one_and_delete_removes_it()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        using var k1 = new TestSigningKey();
        using var k2 = new TestSigningKey();
        (await alice.Client.PutAsync(Prefix + "/dehydrated_device", PutBody(alice, "OLDDEHYDRATED", k1))).EnsureOk();
        (await alice.Client.PutAsync(Prefix + "/dehydrated_device", PutBody(alice, "NEWDEHYDRATED", k2, "second"))).EnsureOk();

        (await alice.Client.GetAsync(Prefix + "/dehydrated_device")).EnsureOk().Json.GetProperty("device_id").GetString().Should().Be("NEWDEHYDRATED");
        var devices = (await bob.QueryAsync(alice.UserId)).GetProperty("device_keys").GetProperty(alice.UserId);
        devices.TryGetProperty("OLDDEHYDRATED", out _).Should().BeFalse();
        devices.TryGetProperty("NEWDEHYDRATED", out _).Should().BeTrue();
        (await alice.Client.GetAsync(Prefix + "/dehydrated_device/OLDDEHYDRATED/events")).ErrCode.Should().Be("M_FORBIDDEN");

        (await alice.Client.PutAsync(Prefix + "/dehydrated_device", PutBody(alice, "NEWDEHYDRATED", k2, "third"))).EnsureOk();
        (await alice.Client.GetAsync(Prefix + "/dehydrated_device")).EnsureOk().Json.GetProperty("device_data").GetProperty("account").GetString().Should().Be("third");

        (await alice.Client.DeleteAsync(Prefix + "/dehydrated_device")).EnsureOk().Json.GetProperty("device_id").GetString().Should().Be("NEWDEHYDRATED");
        (await alice.Client.GetAsync(Prefix + "/dehydrated_device")).ErrCode.Should().Be("M_NOT_FOUND");
        (await bob.QueryAsync(alice.UserId)).GetProperty("device_keys").GetProperty(alice.UserId).TryGetProperty("NEWDEHYDRATED", out _).Should().BeFalse();
    }

    [Fact]
    public async Task The_device_id_of_a_logged_in_device_cannot_be_taken()
    {
        using var alice = await server.NewDeviceAsync();
        using var key = new TestSigningKey();
        var response = await alice.Client.PutAsync(Prefix + "/dehydrated_device", PutBody(alice, alice.DeviceId, key));
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task Bad_dehydrated_devices_are_refused_before_anything_is_stored()
    {
        using var alice = await server.NewDeviceAsync();
        using var key = new TestSigningKey();
        using var other = new TestSigningKey();
        var unsigned = PutBody(alice, "DEHYDRATED2", key);
        unsigned["device_keys"] = alice.DeviceKeys("DEHYDRATED2", key);
        other.Sign(unsigned["device_keys"]!.AsObject(), alice.UserId, "ed25519:DEHYDRATED2");
        (await alice.Client.PutAsync(Prefix + "/dehydrated_device", unsigned)).ErrCode.Should().Be("M_INVALID_SIGNATURE");

        var noKeys = PutBody(alice, "DEHYDRATED2", key);
        noKeys.Remove("device_keys");
        (await alice.Client.PutAsync(Prefix + "/dehydrated_device", noKeys)).ErrCode.Should().Be("M_BAD_JSON");

        var noData = PutBody(alice, "DEHYDRATED2", key);
        noData.Remove("device_data");
        (await alice.Client.PutAsync(Prefix + "/dehydrated_device", noData)).ErrCode.Should().Be("M_BAD_JSON");

        (await alice.Client.GetAsync(Prefix + "/dehydrated_device")).ErrCode.Should().Be("M_NOT_FOUND");
        (await alice.Client.GetAsync(Prefix + "/dehydrated_device/DEHYDRATED2/events?from=x1")).ErrCode.Should().Be("M_FORBIDDEN");
    }
}
