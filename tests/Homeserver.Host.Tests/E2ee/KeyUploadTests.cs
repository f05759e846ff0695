using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests.E2ee;

public sealed class KeyUploadTests(TestServer server) : IClassFixture<TestServer>
{
    private const string Upload = "/_matrix/client/v3/keys/upload";

    [Fact]
    public async Task Self_signed_device_keys_are_stored_and_returned_by_query_to_other_users()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        var uploaded = alice.DeviceKeys();
        await alice.UploadAsync(new JsonObject { ["device_keys"] = uploaded.DeepClone() });

        var query = await bob.QueryAsync(alice.UserId);
        var device = query.GetProperty("device_keys").GetProperty(alice.UserId).GetProperty(alice.DeviceId);
        device.GetProperty("keys").GetProperty(alice.KeyId).GetString().Should().Be(alice.Key.PublicKey);
        device.GetProperty("signatures").GetProperty(alice.UserId).GetProperty(alice.KeyId).GetString()
            .Should().Be(uploaded["signatures"]![alice.UserId]![alice.KeyId]!.GetValue<string>());
        device.GetProperty("unsigned").ValueKind.Should().Be(JsonValueKind.Object);
        query.GetProperty("failures").EnumerateObject().Should().BeEmpty();
    }

    [Fact]
    public async Task The_initial_device_display_name_is_in_unsigned()
    {
        var client = new MatrixClient(server.Client);
        var username = "named" + Guid.NewGuid().ToString("N")[..8];
        var first = await client.PostAsync("/_matrix/client/v3/register", new { username, password = E2eeClientExtensions.Password });
        var done = (await client.PostAsync("/_matrix/client/v3/register", new
        {
            username,
            password = E2eeClientExtensions.Password,
            initial_device_display_name = "Laptop",
            auth = new { type = "m.login.dummy", session = first.Json.GetProperty("session").GetString() },
        })).EnsureOk().Json;
        client.AccessToken = done.GetProperty("access_token").GetString();
        client.UserId = done.GetProperty("user_id").GetString();
        client.DeviceId = done.GetProperty("device_id").GetString();
        using var device = new TestDevice(client);
        await device.UploadDeviceKeysAsync();

        var query = await device.QueryAsync(device.UserId);
        query.GetProperty("device_keys").GetProperty(device.UserId).GetProperty(device.DeviceId)
            .GetProperty("unsigned").GetProperty("device_display_name").GetString().Should().Be("Laptop");
    }

    [Fact]
    public async Task Device_keys_of_another_user_or_device_are_refused()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        var forBob = bob.DeviceKeys();
        var response = await alice.Client.PostAsync(Upload, new JsonObject { ["device_keys"] = forBob });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_BAD_JSON");

        var otherDevice = alice.DeviceKeys(deviceId: "OTHERDEVICE");
        response = await alice.Client.PostAsync(Upload, new JsonObject { ["device_keys"] = otherDevice });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_BAD_JSON");
        (await bob.QueryAsync(alice.UserId, bob.UserId)).GetProperty("device_keys").GetProperty(bob.UserId).EnumerateObject().Should().BeEmpty();
    }

    [Fact]
    public async Task Device_keys_not_signed_by_their_own_key_are_refused()
    {
        using var alice = await server.NewDeviceAsync();
        using var otherKey = new TestSigningKey();
        var keys = alice.DeviceKeys();
        otherKey.Sign(keys, alice.UserId, alice.KeyId); // replaces the self-signature with one by another key
        var response = await alice.Client.PostAsync(Upload, new JsonObject { ["device_keys"] = keys });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_INVALID_SIGNATURE");

        var tampered = alice.DeviceKeys();
        tampered["algorithms"] = new JsonArray("m.olm.v1.curve25519-aes-sha2");
        response = await alice.Client.PostAsync(Upload, new JsonObject { ["device_keys"] = tampered });
        response.ErrCode.Should().Be("M_INVALID_SIGNATURE");
        (await alice.QueryAsync(alice.UserId)).GetProperty("device_keys").GetProperty(alice.UserId).EnumerateObject().Should().BeEmpty();
    }

    public static TheoryData<string> MalformedUploads => new()
    {
        """{"device_keys": null}""",
        """{"device_keys": "x"}""",
        """{"one_time_keys": []}""",
        """{"one_time_keys": {"no_colon": "abc"}}""",
        """{"one_time_keys": {"a:b:c": "abc"}}""",
        """{"one_time_keys": {"signed_curve25519:AAA": 5}}""",
        """{"one_time_keys": {"signed_curve25519:AAA": {"key": 5, "signatures": {}}}}""",
        """{"one_time_keys": {"signed_curve25519:AAA": {"key": "k", "signatures": {"@a:b": "x"}}}}""",
        """{"fallback_keys": {"signed_curve25519:AAA": {"key": "k", "fallback": "yes", "signatures": {}}}}""",
        """{"one_time_keys": {"curve25519:AAA": 1.5}}""",
    };

    [Theory]
    [MemberData(nameof(MalformedUploads))]
    public async Task Malformed_uploads_are_bad_json(string body)
    {
        using var alice = await server.NewDeviceAsync();
        var response = await alice.Client.SendAsync(HttpMethod.Post, Upload, null, body);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_BAD_JSON");
    }

    [Fact]
    public async Task Device_keys_without_required_fields_are_bad_json()
    {
        using var alice = await server.NewDeviceAsync();
        foreach (var missing in new[] { "algorithms", "keys", "signatures" })
        {
            var keys = alice.DeviceKeys();
            keys.Remove(missing);
            var response = await alice.Client.PostAsync(Upload, new JsonObject { ["device_keys"] = keys });
            response.Status.Should().Be(HttpStatusCode.BadRequest, missing);
            response.ErrCode.Should().Be("M_BAD_JSON", missing);
        }
    }

    [Fact]
    public async Task One_time_key_counts_always_include_signed_curve25519()
    {
        using var alice = await server.NewDeviceAsync();
        var empty = await alice.UploadDeviceKeysAsync();
        empty.GetProperty("one_time_key_counts").GetProperty("signed_curve25519").GetInt32().Should().Be(0);

        var counts = await alice.UploadOneTimeKeysAsync(5);
        counts.GetProperty("one_time_key_counts").GetProperty("signed_curve25519").GetInt32().Should().Be(5);
        var more = await alice.UploadAsync(new JsonObject { ["one_time_keys"] = new JsonObject { ["curve25519:plain"] = TestDevice.RandomKey() } });
        more.GetProperty("one_time_key_counts").GetProperty("curve25519").GetInt32().Should().Be(1);
        more.GetProperty("one_time_key_counts").GetProperty("signed_curve25519").GetInt32().Should().Be(5);

        var sync = await alice.SyncAsync();
        sync.GetProperty("device_one_time_keys_count").GetProperty("signed_curve25519").GetInt32().Should().Be(5);
    }

    [Fact]
    public async Task One_time_keys_need_the_device_keys_and_a_valid_signature()
    {
        using var alice = await server.NewDeviceAsync();
        var before = await alice.Client.PostAsync(Upload, new JsonObject { ["one_time_keys"] = new JsonObject { ["signed_curve25519:A"] = alice.SignedKey() } });
        before.ErrCode.Should().Be("M_INVALID_SIGNATURE");

        await alice.UploadDeviceKeysAsync();
        using var otherKey = new TestSigningKey();
        var badlySigned = alice.SignedKey(key: otherKey);
        var response = await alice.Client.PostAsync(Upload, new JsonObject { ["one_time_keys"] = new JsonObject { ["signed_curve25519:B"] = badlySigned } });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_INVALID_SIGNATURE");

        var fallback = await alice.Client.PostAsync(Upload, new JsonObject { ["fallback_keys"] = new JsonObject { ["signed_curve25519:C"] = alice.SignedKey(fallback: true, key: otherKey) } });
        fallback.ErrCode.Should().Be("M_INVALID_SIGNATURE");
        (await alice.UploadAsync(new JsonObject())).GetProperty("one_time_key_counts").GetProperty("signed_curve25519").GetInt32().Should().Be(0);
    }

    [Fact]
    public async Task A_different_key_under_an_existing_key_id_is_refused_and_the_same_key_is_accepted_again()
    {
        using var alice = await server.NewDeviceAsync();
        await alice.UploadDeviceKeysAsync();
        var key = alice.SignedKey();
        await alice.UploadAsync(new JsonObject { ["one_time_keys"] = new JsonObject { ["signed_curve25519:AAAA"] = key.DeepClone() } });

        var again = await alice.UploadAsync(new JsonObject { ["one_time_keys"] = new JsonObject { ["signed_curve25519:AAAA"] = key.DeepClone() } });
        again.GetProperty("one_time_key_counts").GetProperty("signed_curve25519").GetInt32().Should().Be(1);

        var different = await alice.Client.PostAsync(Upload, new JsonObject { ["one_time_keys"] = new JsonObject { ["signed_curve25519:AAAA"] = alice.SignedKey() } });
        different.Status.Should().Be(HttpStatusCode.BadRequest);
        different.ErrCode.Should().Be("M_UNKNOWN");
        different.Json.GetProperty("error").GetString().Should().Contain("One time key signed_curve25519:AAAA already exists");
    }

    [Fact]
    public async Task Fallback_keys_hold_one_per_algorithm()
    {
        using var alice = await server.NewDeviceAsync();
        await alice.UploadDeviceKeysAsync();
        var response = await alice.Client.PostAsync(Upload, new JsonObject
        {
            ["fallback_keys"] = new JsonObject
            {
                ["signed_curve25519:F1"] = alice.SignedKey(fallback: true),
                ["signed_curve25519:F2"] = alice.SignedKey(fallback: true),
            },
        });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task Re_uploading_device_keys_unchanged_is_not_a_device_list_change()
    {
        using var alice = await server.NewDeviceAsync();
        var keys = alice.DeviceKeys();
        await alice.UploadAsync(new JsonObject { ["device_keys"] = keys.DeepClone() });
        var since = await alice.SyncTokenAsync();
        await alice.UploadAsync(new JsonObject { ["device_keys"] = keys.DeepClone() });
        (await alice.SyncAsync(since)).Changed().Should().BeEmpty();
    }
}
