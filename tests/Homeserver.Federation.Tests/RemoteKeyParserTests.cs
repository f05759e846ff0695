using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Crypto;
using Homeserver.Federation.E2ee;

namespace Homeserver.Federation.Tests;

/// <summary>What another server says about its users' keys is believed only once it verifies.</summary>
public sealed class RemoteKeyParserTests : IDisposable
{
    private const string Origin = "remote.example";
    private const string Bob = "@bob:remote.example";
    private const string Device = "BOBPHONE";

    private readonly Ed25519SigningKey _device = Ed25519SigningKey.Generate("d");
    private readonly Ed25519SigningKey _master = Ed25519SigningKey.Generate("m");
    private readonly Ed25519SigningKey _selfSigning = Ed25519SigningKey.Generate("s");
    private readonly Ed25519SigningKey _stranger = Ed25519SigningKey.Generate("x");

    public void Dispose()
    {
        _device.Dispose();
        _master.Dispose();
        _selfSigning.Dispose();
        _stranger.Dispose();
    }

    private static JsonObject Sign(JsonObject obj, string signer, string keyId, Ed25519SigningKey key)
    {
        var copy = obj.DeepClone().AsObject();
        copy.Remove("signatures");
        copy.Remove("unsigned");
        var signature = key.SignToBase64(CanonicalJson.Encode(JsonSerializer.SerializeToElement(copy)));
        var signatures = obj["signatures"] as JsonObject ?? new JsonObject();
        obj["signatures"] = signatures;
        var forSigner = signatures[signer] as JsonObject ?? new JsonObject();
        signatures[signer] = forSigner;
        forSigner[keyId] = signature;
        return obj;
    }

    private JsonObject DeviceKeys(string userId = Bob, string deviceId = Device, Ed25519SigningKey? signer = null) => Sign(new JsonObject
    {
        ["user_id"] = userId,
        ["device_id"] = deviceId,
        ["algorithms"] = new JsonArray("m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"),
        ["keys"] = new JsonObject { ["curve25519:" + deviceId] = "c25519", ["ed25519:" + deviceId] = _device.PublicKeyBase64 },
        ["unsigned"] = new JsonObject { ["device_display_name"] = "phone" },
    }, userId, "ed25519:" + deviceId, signer ?? _device);

    private JsonObject CrossSigningKey(Ed25519SigningKey key, string usage) => new()
    {
        ["user_id"] = Bob,
        ["usage"] = new JsonArray(usage),
        ["keys"] = new JsonObject { ["ed25519:" + key.PublicKeyBase64] = key.PublicKeyBase64 },
    };

    private JsonObject Master() => CrossSigningKey(_master, "master");

    private JsonObject SelfSigning(Ed25519SigningKey? signer = null) =>
        Sign(CrossSigningKey(_selfSigning, "self_signing"), Bob, "ed25519:" + (signer ?? _master).PublicKeyBase64, signer ?? _master);

    private static JsonElement E(JsonNode node) => JsonSerializer.SerializeToElement(node);

    [Fact]
    public void Device_keys_must_name_their_owner_and_device_and_be_signed_by_the_device()
    {
        var canonical = RemoteKeyParser.DeviceKeys(E(DeviceKeys()), Bob, Device, requireSelfSigned: true);
        canonical.Should().NotBeNull();
        canonical.Should().NotContain("unsigned", "what another server adds outside the signature is not kept");

        RemoteKeyParser.DeviceKeys(E(DeviceKeys()), "@alice:remote.example", Device, true).Should().BeNull();
        RemoteKeyParser.DeviceKeys(E(DeviceKeys()), Bob, "OTHER", true).Should().BeNull();
        RemoteKeyParser.DeviceKeys(E(DeviceKeys(signer: _stranger)), Bob, Device, true).Should().BeNull();
        RemoteKeyParser.DeviceKeys(E(DeviceKeys(signer: _stranger)), Bob, Device, requireSelfSigned: false).Should().NotBeNull();
        RemoteKeyParser.DeviceKeys(JsonSerializer.SerializeToElement("keys"), Bob, Device, true).Should().BeNull();
    }

    [Fact]
    public void Without_required_self_signatures_placeholder_keys_are_kept_as_given_unless_they_name_someone_else()
    {
        var placeholder = new JsonObject { ["device_keys"] = new JsonObject(), ["unsigned"] = new JsonObject { ["device_display_name"] = "x" } };

        RemoteKeyParser.DeviceKeys(E(placeholder), Bob, Device, requireSelfSigned: false).Should().Be("""{"device_keys":{}}""");
        RemoteKeyParser.DeviceKeys(E(placeholder), Bob, Device, requireSelfSigned: true).Should().BeNull();
        RemoteKeyParser.DeviceKeys(E(new JsonObject { ["user_id"] = "@mallory:remote.example" }), Bob, Device, false).Should().BeNull();
        RemoteKeyParser.DeviceKeys(E(new JsonObject { ["device_id"] = "OTHER" }), Bob, Device, false).Should().BeNull();
        RemoteKeyParser.DeviceKeys(E(new JsonObject { ["n"] = 1.5 }), Bob, Device, false).Should().BeNull("it has no canonical form");
    }

    [Fact]
    public void A_self_signing_key_counts_only_with_the_master_key_that_signed_it()
    {
        RemoteKeyParser.CrossSigningKeys(E(Master()), E(SelfSigning()), Bob).Select(k => k.KeyType).Should().Equal("master", "self_signing");
        RemoteKeyParser.CrossSigningKeys(E(Master()), E(SelfSigning(_stranger)), Bob).Select(k => k.KeyType).Should().Equal("master");
        RemoteKeyParser.CrossSigningKeys(null, E(SelfSigning()), Bob).Should().BeEmpty();
        RemoteKeyParser.CrossSigningKeys(E(Master()), null, "@carol:remote.example").Should().BeEmpty("a key must name its owner");

        var known = RemoteKeyParser.CrossSigningKeys(E(Master()), null, Bob).Single();
        RemoteKeyParser.CrossSigningKeys(null, E(SelfSigning()), Bob, known).Select(k => k.KeyType).Should().Equal("self_signing");
    }

    [Fact]
    public void A_user_devices_answer_is_read_with_its_version_and_only_verified_keys()
    {
        var answer = new JsonObject
        {
            ["user_id"] = Bob,
            ["stream_id"] = 42,
            ["devices"] = new JsonArray(
                new JsonObject { ["device_id"] = Device, ["keys"] = DeviceKeys(), ["device_display_name"] = "Bob's phone" },
                new JsonObject { ["device_id"] = "FORGED", ["keys"] = DeviceKeys(deviceId: "FORGED", signer: _stranger) },
                new JsonObject { ["keys"] = DeviceKeys() },
                "nonsense"),
            ["master_key"] = Master(),
            ["self_signing_key"] = SelfSigning(),
        };
        var snapshot = RemoteKeyParser.UserDevices(E(answer), Bob, requireSelfSigned: true);
        snapshot.StreamId.Should().Be(42);
        snapshot.Devices.Should().HaveCount(2);
        snapshot.Devices.Single(d => d.DeviceId == Device).Should().Match<Homeserver.Core.Federation.CachedRemoteDevice>(d => d.KeyJson != null && d.DisplayName == "Bob's phone");
        snapshot.Devices.Single(d => d.DeviceId == "FORGED").KeyJson.Should().BeNull();
        snapshot.CrossSigningKeys.Should().HaveCount(2);
    }

    [Theory]
    [InlineData("""{"user_id": "@carol:remote.example", "stream_id": 1, "devices": []}""")]
    [InlineData("""{"user_id": "@bob:remote.example", "devices": []}""")]
    [InlineData("""{"user_id": "@bob:remote.example", "stream_id": -1, "devices": []}""")]
    [InlineData("""{"user_id": "@bob:remote.example", "stream_id": "1", "devices": []}""")]
    [InlineData("""{"user_id": "@bob:remote.example", "stream_id": 1, "devices": {}}""")]
    [InlineData("[]")]
    public void A_user_devices_answer_that_is_not_one_is_refused(string json)
    {
        FluentActions.Invoking(() => RemoteKeyParser.UserDevices(JsonDocument.Parse(json).RootElement, Bob, true)).Should().Throw<FormatException>();
    }

    [Fact]
    public void A_device_list_update_is_read_only_from_the_users_own_server()
    {
        var content = new JsonObject
        {
            ["user_id"] = Bob,
            ["device_id"] = Device,
            ["stream_id"] = 7,
            ["prev_id"] = new JsonArray(5, 6),
            ["keys"] = DeviceKeys(),
            ["device_display_name"] = "phone",
        };
        var edu = RemoteKeyParser.DeviceListUpdate(E(content), Origin, true)!;
        edu.Should().NotBeNull();
        edu.PrevIds.Should().Equal(5, 6);
        edu.KeyJson.Should().NotBeNull();
        edu.KeysRejected.Should().BeFalse();
        edu.DisplayName.Should().Be("phone");

        RemoteKeyParser.DeviceListUpdate(E(content), "evil.example", true).Should().BeNull();

        var forged = content.DeepClone().AsObject();
        forged["keys"] = DeviceKeys(signer: _stranger);
        RemoteKeyParser.DeviceListUpdate(E(forged), Origin, true)!.KeysRejected.Should().BeTrue();

        var deleted = new JsonObject { ["user_id"] = Bob, ["device_id"] = Device, ["stream_id"] = 8, ["deleted"] = true };
        RemoteKeyParser.DeviceListUpdate(E(deleted), Origin, true)!.Should().Match<DeviceListUpdateEdu>(d => d.Deleted && d.PrevIds.Count == 0 && d.KeyJson == null);
    }

    [Theory]
    [InlineData("""{"device_id": "D", "stream_id": 1}""")]
    [InlineData("""{"user_id": "bob", "device_id": "D", "stream_id": 1}""")]
    [InlineData("""{"user_id": "@bob:remote.example", "stream_id": 1}""")]
    [InlineData("""{"user_id": "@bob:remote.example", "device_id": "D"}""")]
    [InlineData("""{"user_id": "@bob:remote.example", "device_id": "D", "stream_id": 1, "prev_id": 0}""")]
    [InlineData("""{"user_id": "@bob:remote.example", "device_id": "D", "stream_id": 1, "prev_id": ["0"]}""")]
    [InlineData("""{"user_id": "@bob:remote.example", "device_id": "D", "stream_id": 1.5}""")]
    public void A_malformed_device_list_update_is_refused(string json)
    {
        RemoteKeyParser.DeviceListUpdate(JsonDocument.Parse(json).RootElement, Origin, true).Should().BeNull();
    }

    [Fact]
    public void A_key_query_answer_keeps_only_what_was_asked_and_verifies()
    {
        var answer = new JsonObject
        {
            ["device_keys"] = new JsonObject
            {
                [Bob] = new JsonObject
                {
                    [Device] = DeviceKeys(),
                    ["FORGED"] = DeviceKeys(deviceId: "FORGED", signer: _stranger),
                    ["OTHER"] = DeviceKeys(deviceId: "OTHER", signer: _stranger),
                },
                ["@mallory:remote.example"] = new JsonObject { ["M"] = DeviceKeys("@mallory:remote.example", "M") },
            },
            ["master_keys"] = new JsonObject { [Bob] = Master() },
            ["self_signing_keys"] = new JsonObject { [Bob] = SelfSigning(_stranger) },
        };
        var kept = RemoteKeyParser.QueryAnswer(E(answer), new Dictionary<string, IReadOnlyList<string>> { [Bob] = [] }, true);
        kept["device_keys"]!.AsObject().Select(p => p.Key).Should().Equal(Bob);
        kept["device_keys"]![Bob]!.AsObject().Select(p => p.Key).Should().Equal(Device);
        kept["device_keys"]![Bob]![Device]!["unsigned"]!["device_display_name"]!.GetValue<string>().Should().Be("phone");
        kept["master_keys"]![Bob].Should().NotBeNull();
        kept["self_signing_keys"]!.AsObject().Should().BeEmpty();

        var onlyOne = RemoteKeyParser.QueryAnswer(E(answer), new Dictionary<string, IReadOnlyList<string>> { [Bob] = ["OTHER"] }, requireSelfSigned: false);
        onlyOne["device_keys"]![Bob]!.AsObject().Select(p => p.Key).Should().Equal("OTHER");
    }

    [Fact]
    public void A_claim_answer_keeps_one_key_of_the_algorithm_asked_for_each_device_asked_for()
    {
        var answer = JsonNode.Parse("""
            {"one_time_keys": {
              "@bob:remote.example": {
                "BOBPHONE": {"curve25519:AAA": "k1", "signed_curve25519:BBB": {"key": "k2", "signatures": {}}, "signed_curve25519:CCC": {"key": "k3"}},
                "NOTASKED": {"signed_curve25519:DDD": {"key": "k4"}},
                "LAPTOP": {"signed_curve25519:": {"key": "k5"}}
              },
              "@mallory:remote.example": {"M": {"signed_curve25519:EEE": {"key": "k6"}}}
            }}
            """)!;
        var asked = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            [Bob] = new Dictionary<string, string> { [Device] = "signed_curve25519", ["LAPTOP"] = "signed_curve25519" },
        };
        var kept = RemoteKeyParser.ClaimAnswer(E(answer), asked)["one_time_keys"]!.AsObject();
        kept.Select(p => p.Key).Should().Equal(Bob);
        kept[Bob]!.AsObject().Select(p => p.Key).Should().Equal(Device);
        kept[Bob]![Device]!.AsObject().Select(p => p.Key).Should().Equal("signed_curve25519:BBB");
    }
}
