using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.E2ee.CrossSigning;

namespace Homeserver.E2ee.Tests;

public sealed class CrossSigningKeyValidatorTests
{
    private const string User = "@alice:example.org";

    private static JsonObject Key(TestKey key, string usage) => new()
    {
        ["user_id"] = User,
        ["usage"] = new JsonArray(usage),
        ["keys"] = new JsonObject { ["ed25519:" + key.PublicKey] = key.PublicKey },
    };

    [Fact]
    public void A_self_signing_key_must_be_signed_by_the_master_key()
    {
        using var master = new TestKey();
        using var selfSigning = new TestKey();
        using var stranger = new TestKey();
        var parsedMaster = CrossSigningKeyValidator.Validate(TestKey.Element(Key(master, "master")), User, CrossSigningKeyTypes.Master, null);
        parsedMaster.PublicKey.Should().Be(master.PublicKey);

        var signed = master.Sign(Key(selfSigning, "self_signing"), User, parsedMaster.KeyId);
        CrossSigningKeyValidator.Validate(TestKey.Element(signed), User, CrossSigningKeyTypes.SelfSigning, parsedMaster).KeyId.Should().Be("ed25519:" + selfSigning.PublicKey);

        var forged = stranger.Sign(Key(selfSigning, "self_signing"), User, parsedMaster.KeyId);
        Refusal(() => CrossSigningKeyValidator.Validate(TestKey.Element(forged), User, CrossSigningKeyTypes.SelfSigning, parsedMaster)).Should().Be(MatrixErrorCode.InvalidSignature);
        Refusal(() => CrossSigningKeyValidator.Validate(TestKey.Element(Key(selfSigning, "self_signing")), User, CrossSigningKeyTypes.SelfSigning, parsedMaster))
            .Should().Be(MatrixErrorCode.InvalidSignature);
    }

    public static TheoryData<string> Malformed => new()
    {
        """{"user_id": "@bob:example.org", "usage": ["master"], "keys": {"ed25519:KEY": "KEY"}}""",
        """{"user_id": "@alice:example.org", "usage": ["self_signing"], "keys": {"ed25519:KEY": "KEY"}}""",
        """{"user_id": "@alice:example.org", "usage": "master", "keys": {"ed25519:KEY": "KEY"}}""",
        """{"user_id": "@alice:example.org", "usage": ["master"], "keys": {}}""",
        """{"user_id": "@alice:example.org", "usage": ["master"], "keys": {"ed25519:KEY": "OTHER"}}""",
        """{"user_id": "@alice:example.org", "usage": ["master"], "keys": {"curve25519:KEY": "KEY"}}""",
        """{"user_id": "@alice:example.org", "usage": ["master"], "keys": {"ed25519:c2hvcnQ": "c2hvcnQ"}}""",
        """{"usage": ["master"], "keys": {"ed25519:KEY": "KEY"}}""",
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_keys_are_invalid_params(string json)
    {
        using var key = new TestKey();
        var withKey = json.Replace("KEY", key.PublicKey, StringComparison.Ordinal);
        Refusal(() => CrossSigningKeyValidator.Validate(TestKey.Element(JsonNode.Parse(withKey)!), User, CrossSigningKeyTypes.Master, null))
            .Should().Be(MatrixErrorCode.InvalidParam);
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
