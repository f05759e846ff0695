using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Crypto;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests.E2ee;

/// <summary>An ed25519 key pair a test client signs with, under any key ID (device keys, cross-signing keys).</summary>
internal sealed class TestSigningKey : IDisposable
{
    private readonly Ed25519SigningKey _key = Ed25519SigningKey.Generate("test");

    public string PublicKey => _key.PublicKeyBase64;

    /// <summary>Signs the object's signed part (without signatures and unsigned) and adds the signature under <paramref name="signer"/>/<paramref name="keyId"/>.</summary>
    public JsonObject Sign(JsonObject obj, string signer, string keyId)
    {
        var copy = obj.DeepClone().AsObject();
        copy.Remove("signatures");
        copy.Remove("unsigned");
        var signature = _key.SignToBase64(CanonicalJson.Encode(copy));
        if (obj["signatures"] is not JsonObject signatures)
        {
            obj["signatures"] = signatures = new JsonObject();
        }

        if (signatures[signer] is not JsonObject forSigner)
        {
            signatures[signer] = forSigner = new JsonObject();
        }

        forSigner[keyId] = signature;
        return obj;
    }

    public void Dispose() => _key.Dispose();
}

/// <summary>A logged-in device with its own identity key, as an E2EE client would have.</summary>
internal sealed class TestDevice(MatrixClient client) : IDisposable
{
    public MatrixClient Client { get; } = client;

    public TestSigningKey Key { get; } = new();

    public string UserId => Client.UserId!;

    public string DeviceId => Client.DeviceId!;

    public string KeyId => "ed25519:" + DeviceId;

    /// <summary>Self-signed device keys, as <c>/keys/upload</c> wants them.</summary>
    public JsonObject DeviceKeys(string? deviceId = null, TestSigningKey? key = null)
    {
        deviceId ??= DeviceId;
        key ??= Key;
        var obj = new JsonObject
        {
            ["user_id"] = UserId,
            ["device_id"] = deviceId,
            ["algorithms"] = new JsonArray("m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"),
            ["keys"] = new JsonObject
            {
                ["curve25519:" + deviceId] = RandomKey(),
                ["ed25519:" + deviceId] = key.PublicKey,
            },
        };
        return key.Sign(obj, UserId, "ed25519:" + deviceId);
    }

    /// <summary>A signed curve25519 key object (one-time or fallback).</summary>
    public JsonObject SignedKey(bool fallback = false, string? deviceId = null, TestSigningKey? key = null)
    {
        var obj = new JsonObject { ["key"] = RandomKey() };
        if (fallback)
        {
            obj["fallback"] = true;
        }

        return (key ?? Key).Sign(obj, UserId, "ed25519:" + (deviceId ?? DeviceId));
    }

    public async Task<JsonElement> UploadAsync(JsonObject body) =>
        (await Client.PostAsync("/_matrix/client/v3/keys/upload", body)).EnsureOk().Json;

    public Task<JsonElement> UploadDeviceKeysAsync() => UploadAsync(new JsonObject { ["device_keys"] = DeviceKeys() });

    /// <summary>Uploads <paramref name="count"/> signed one-time keys named <c>signed_curve25519:&lt;prefix&gt;&lt;i&gt;</c>.</summary>
    public Task<JsonElement> UploadOneTimeKeysAsync(int count, string prefix = "k")
    {
        var keys = new JsonObject();
        for (var i = 0; i < count; i++)
        {
            keys[$"signed_curve25519:{prefix}{i:D4}"] = SignedKey();
        }

        return UploadAsync(new JsonObject { ["one_time_keys"] = keys });
    }

    public async Task<JsonElement> QueryAsync(params string[] userIds)
    {
        var wanted = new JsonObject();
        foreach (var u in userIds)
        {
            wanted[u] = new JsonArray();
        }

        return (await Client.PostAsync("/_matrix/client/v3/keys/query", new JsonObject { ["device_keys"] = wanted })).EnsureOk().Json;
    }

    public async Task<JsonElement> SyncAsync(string? since = null, int timeout = 0, string? filter = null)
    {
        var url = "/_matrix/client/v3/sync?timeout=" + timeout + (since is null ? string.Empty : "&since=" + Uri.EscapeDataString(since))
            + (filter is null ? string.Empty : "&filter=" + Uri.EscapeDataString(filter));
        return (await Client.GetAsync(url)).EnsureOk().Json;
    }

    public async Task<string> SyncTokenAsync(string? filter = null) => (await SyncAsync(filter: filter)).GetProperty("next_batch").GetString()!;

    public void Dispose() => Key.Dispose();

    public static string RandomKey() => UnpaddedBase64.Encode(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
}

/// <summary>A user's three cross-signing keys and the JSON to upload them.</summary>
internal sealed class TestCrossSigning(string userId) : IDisposable
{
    public TestSigningKey Master { get; } = new();

    public TestSigningKey SelfSigning { get; } = new();

    public TestSigningKey UserSigning { get; } = new();

    public string MasterKeyId => "ed25519:" + Master.PublicKey;

    public string SelfSigningKeyId => "ed25519:" + SelfSigning.PublicKey;

    public string UserSigningKeyId => "ed25519:" + UserSigning.PublicKey;

    public JsonObject MasterKey() => Key(Master, "master");

    public JsonObject SelfSigningKey(TestSigningKey? signedBy = null) => (signedBy ?? Master).Sign(Key(SelfSigning, "self_signing"), userId, "ed25519:" + (signedBy ?? Master).PublicKey);

    public JsonObject UserSigningKey() => Master.Sign(Key(UserSigning, "user_signing"), userId, MasterKeyId);

    public JsonObject UploadBody() => new()
    {
        ["master_key"] = MasterKey(),
        ["self_signing_key"] = SelfSigningKey(),
        ["user_signing_key"] = UserSigningKey(),
    };

    private JsonObject Key(TestSigningKey key, string usage) => new()
    {
        ["user_id"] = userId,
        ["usage"] = new JsonArray(usage),
        ["keys"] = new JsonObject { ["ed25519:" + key.PublicKey] = key.PublicKey },
    };

    public void Dispose()
    {
        Master.Dispose();
        SelfSigning.Dispose();
        UserSigning.Dispose();
    }
}

internal static class E2eeClientExtensions
{
    public const string Password = "correct horse battery staple";

    public static async Task<TestDevice> NewDeviceAsync(this TestServer server) => new(await new MatrixClient(server.Client).RegisterAsync());

    /// <summary>Logs the same user in again: a second device.</summary>
    public static async Task<TestDevice> LoginAgainAsync(this TestDevice device, TestServer server, string? deviceId = null)
    {
        var client = new MatrixClient(server.Client);
        var body = new JsonObject
        {
            ["type"] = "m.login.password",
            ["identifier"] = new JsonObject { ["type"] = "m.id.user", ["user"] = device.UserId },
            ["password"] = Password,
        };
        if (deviceId is not null)
        {
            body["device_id"] = deviceId;
        }

        var login = (await client.PostAsync("/_matrix/client/v3/login", body)).EnsureOk().Json;
        client.AccessToken = login.GetProperty("access_token").GetString();
        client.UserId = login.GetProperty("user_id").GetString();
        client.DeviceId = login.GetProperty("device_id").GetString();
        return new TestDevice(client);
    }

    public static async Task<string> CreateRoomAsync(this TestDevice device, params TestDevice[] invite)
    {
        var body = new JsonObject { ["invite"] = new JsonArray(invite.Select(i => (JsonNode)i.UserId).ToArray()) };
        return (await device.Client.PostAsync("/_matrix/client/v3/createRoom", body)).EnsureOk().Json.GetProperty("room_id").GetString()!;
    }

    public static async Task JoinAsync(this TestDevice device, string roomId) =>
        (await device.Client.PostAsync($"/_matrix/client/v3/join/{Uri.EscapeDataString(roomId)}", new { })).EnsureOk();

    public static async Task LeaveAsync(this TestDevice device, string roomId) =>
        (await device.Client.PostAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/leave", new { })).EnsureOk();

    /// <summary>A room shared by all the devices' users (the first creates it, the others join).</summary>
    public static async Task<string> ShareRoomAsync(this TestDevice creator, params TestDevice[] others)
    {
        var roomId = await creator.CreateRoomAsync(others);
        foreach (var other in others)
        {
            await other.JoinAsync(roomId);
        }

        return roomId;
    }

    public static IReadOnlyList<string> Changed(this JsonElement sync) =>
        sync.GetProperty("device_lists").GetProperty("changed").EnumerateArray().Select(e => e.GetString()!).ToList();

    public static IReadOnlyList<string> Left(this JsonElement sync) =>
        sync.GetProperty("device_lists").GetProperty("left").EnumerateArray().Select(e => e.GetString()!).ToList();

    public static IReadOnlyList<JsonElement> ToDeviceEvents(this JsonElement sync) =>
        sync.GetProperty("to_device").GetProperty("events").EnumerateArray().ToList();

    public static string Text(this JsonElement json) => json.GetRawText();

    public static StringContent Raw(string json) => new(json, Encoding.UTF8, "application/json");
}
