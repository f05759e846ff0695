using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.E2ee.Keys;

namespace Homeserver.E2ee.Tests;

public sealed class KeyUploadParserTests
{
    private const string User = "@alice:example.org";
    private const string Device = "ABCDEFGHIJ";

    private static JsonObject DeviceKeys(TestKey key, string device = Device) => key.Sign(new JsonObject
    {
        ["user_id"] = User,
        ["device_id"] = device,
        ["algorithms"] = new JsonArray("m.olm.v1.curve25519-aes-sha2"),
        ["keys"] = new JsonObject { ["ed25519:" + device] = key.PublicKey, ["curve25519:" + device] = "Y3VydmU" },
    }, User, "ed25519:" + device);

    [Fact]
    public void Self_signed_device_keys_parse_to_canonical_json_and_their_key()
    {
        using var key = new TestKey();
        var parsed = KeyUploadParser.ParseDeviceKeys(TestKey.Element(DeviceKeys(key)), User, Device, requireSelfSigned: true);
        parsed.Ed25519Key.Should().Equal(Convert.FromBase64String(key.PublicKey + "="));
        parsed.CanonicalJson.Should().StartWith("{\"algorithms\":");
    }

    [Fact]
    public void A_signature_by_another_key_or_over_other_content_is_refused()
    {
        using var key = new TestKey();
        using var other = new TestKey();
        var forged = other.Sign(DeviceKeys(key), User, "ed25519:" + Device);
        Refusal(() => KeyUploadParser.ParseDeviceKeys(TestKey.Element(forged), User, Device, true)).Should().Be(MatrixErrorCode.InvalidSignature);

        var changed = DeviceKeys(key);
        changed["algorithms"] = new JsonArray();
        Refusal(() => KeyUploadParser.ParseDeviceKeys(TestKey.Element(changed), User, Device, true)).Should().Be(MatrixErrorCode.InvalidSignature);
    }

    [Fact]
    public void Without_required_self_signatures_placeholder_keys_are_accepted()
    {
        var placeholder = new JsonObject
        {
            ["user_id"] = User,
            ["device_id"] = Device,
            ["algorithms"] = new JsonArray(),
            ["keys"] = new JsonObject { ["ed25519:" + Device] = "ed25519+key" },
            ["signatures"] = new JsonObject { [User] = new JsonObject { ["ed25519:" + Device] = "self+signature" } },
        };
        KeyUploadParser.ParseDeviceKeys(TestKey.Element(placeholder), User, Device, requireSelfSigned: false).Ed25519Key.Should().BeNull();
        Refusal(() => KeyUploadParser.ParseDeviceKeys(TestKey.Element(placeholder), User, Device, requireSelfSigned: true)).Should().Be(MatrixErrorCode.BadJson);
    }

    [Fact]
    public void Keys_of_another_user_or_device_are_refused_first()
    {
        using var key = new TestKey();
        Refusal(() => KeyUploadParser.ParseDeviceKeys(TestKey.Element(DeviceKeys(key)), "@bob:example.org", Device, true)).Should().Be(MatrixErrorCode.BadJson);
        Refusal(() => KeyUploadParser.ParseDeviceKeys(TestKey.Element(DeviceKeys(key)), User, "OTHER", true)).Should().Be(MatrixErrorCode.BadJson);
    }

    public static TheoryData<string> BadKeyNames => new() { "nocolon", ":id", "alg:", "a:b:c" };

    [Theory]
    [MemberData(nameof(BadKeyNames))]
    public void Key_names_must_be_algorithm_colon_id(string name)
    {
        var keys = TestKey.Element(new JsonObject { [name] = "abc" });
        Refusal(() => KeyUploadParser.ParseKeys(keys, "one_time_keys", User, Device, null, true, fallback: false)).Should().Be(MatrixErrorCode.BadJson);
    }

    [Fact]
    public void Signed_one_time_keys_are_checked_against_the_device_key_and_strings_are_not()
    {
        using var key = new TestKey();
        using var other = new TestKey();
        var deviceKey = Convert.FromBase64String(key.PublicKey + "=");
        var good = key.Sign(new JsonObject { ["key"] = "a2V5" }, User, "ed25519:" + Device);
        var bad = other.Sign(new JsonObject { ["key"] = "a2V5" }, User, "ed25519:" + Device);
        var parsed = KeyUploadParser.ParseKeys(TestKey.Element(new JsonObject { ["signed_curve25519:A"] = good, ["curve25519:B"] = "cGxhaW4" }), "one_time_keys", User, Device, deviceKey, true, false);
        parsed.Select(k => k.FullKeyId).Should().Equal("signed_curve25519:A", "curve25519:B");
        parsed[1].KeyJson.Should().Be("\"cGxhaW4\"");
        Refusal(() => KeyUploadParser.ParseKeys(TestKey.Element(new JsonObject { ["signed_curve25519:A"] = bad }), "one_time_keys", User, Device, deviceKey, true, false))
            .Should().Be(MatrixErrorCode.InvalidSignature);
        Refusal(() => KeyUploadParser.ParseKeys(TestKey.Element(new JsonObject { ["signed_curve25519:A"] = good.DeepClone() }), "one_time_keys", User, Device, null, true, false))
            .Should().Be(MatrixErrorCode.InvalidSignature);
    }

    [Fact]
    public void A_re_uploaded_one_time_key_is_the_same_whatever_its_signatures()
    {
        KeyUploadParser.SameOneTimeKey("""{"key":"k","signatures":{"@a:b":{"ed25519:X":"one"}}}""", """{"key":"k","signatures":{"@a:b":{"ed25519:X":"two"}}}""").Should().BeTrue();
        KeyUploadParser.SameOneTimeKey("""{"key":"k"}""", """{"key":"other"}""").Should().BeFalse();
        KeyUploadParser.SameOneTimeKey("\"k\"", "\"k\"").Should().BeTrue();
        KeyUploadParser.SameOneTimeKey("\"k\"", """{"key":"k"}""").Should().BeFalse();
    }

    [Fact]
    public void Only_one_fallback_key_per_algorithm()
    {
        var keys = TestKey.Element(new JsonObject { ["curve25519:A"] = "YQ", ["curve25519:B"] = "Yg" });
        Refusal(() => KeyUploadParser.ParseKeys(keys, "fallback_keys", User, Device, null, false, fallback: true)).Should().Be(MatrixErrorCode.InvalidParam);
        KeyUploadParser.ParseKeys(keys, "one_time_keys", User, Device, null, false, fallback: false).Should().HaveCount(2);
    }

    private static string? Refusal(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (MatrixException e)
        {
            return e.ErrorCode;
        }
    }
}
