using System.Text.Json;
using Homeserver.Core;
using Homeserver.Crypto;

namespace Homeserver.E2ee.CrossSigning;

/// <summary>The three cross-signing key types, as stored and as named in <c>usage</c>.</summary>
public static class CrossSigningKeyTypes
{
    public const string Master = "master";
    public const string SelfSigning = "self_signing";
    public const string UserSigning = "user_signing";
}

/// <summary>A cross-signing key from a request, checked.</summary>
public sealed record ParsedCrossSigningKey(string KeyType, string PublicKey, byte[] PublicKeyBytes, string CanonicalJson)
{
    public string KeyId => "ed25519:" + PublicKey;
}

/// <summary>
/// Validation of cross-signing keys (client-server API "Cross-signing", <c>CrossSigningKey</c>): the owner, the
/// usage, exactly one ed25519 key named by its own public key, and (for the self-signing and user-signing keys) a
/// valid signature by the master key. Pure.
/// </summary>
public static class CrossSigningKeyValidator
{
    /// <param name="masterKey">The master key that must have signed this key; null for the master key itself.</param>
    public static ParsedCrossSigningKey Validate(JsonElement key, string userId, string keyType, ParsedCrossSigningKey? masterKey)
    {
        var field = keyType + "_key";
        if (key.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson($"{field} must be an object");
        }

        if (!key.TryGetProperty("user_id", out var owner) || owner.ValueKind != JsonValueKind.String || owner.GetString() != userId)
        {
            throw MatrixException.InvalidParam($"Invalid {keyType} key: user_id must be {userId}");
        }

        if (!key.TryGetProperty("usage", out var usage) || usage.ValueKind != JsonValueKind.Array
            || usage.EnumerateArray().Any(u => u.ValueKind != JsonValueKind.String)
            || !usage.EnumerateArray().Any(u => u.GetString() == keyType))
        {
            throw MatrixException.InvalidParam($"Invalid {keyType} key: usage must include \"{keyType}\"");
        }

        if (!key.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Object || keys.EnumerateObject().Count() != 1)
        {
            throw MatrixException.InvalidParam($"Invalid {keyType} key: keys must hold exactly one key");
        }

        var entry = keys.EnumerateObject().Single();
        if (!entry.Name.StartsWith("ed25519:", StringComparison.Ordinal) || entry.Value.ValueKind != JsonValueKind.String
            || entry.Value.GetString() != entry.Name["ed25519:".Length..]
            || E2eeJson.DecodeEd25519PublicKey(entry.Value.GetString()) is not { } publicKey)
        {
            throw MatrixException.InvalidParam($"Invalid {keyType} key: the key must be \"ed25519:<public key>\": \"<public key>\" (32 bytes, unpadded Base64)");
        }

        if (key.TryGetProperty("signatures", out var signatures) && !Keys.KeyUploadParser.IsSignaturesMap(signatures))
        {
            throw MatrixException.BadJson($"{field}.signatures must be a map of user ID to key ID to signature");
        }

        if (masterKey is not null
            && JsonSigning.Verify(key, userId, masterKey.KeyId, masterKey.PublicKeyBytes) != SignatureVerification.Valid)
        {
            throw E2eeErrorCodes.InvalidSignature($"Invalid signature on {keyType} key: it must be signed by the master key {masterKey.KeyId}");
        }

        return new ParsedCrossSigningKey(keyType, entry.Value.GetString()!, publicKey, E2eeJson.ToCanonicalText(key));
    }

    /// <summary>Reads a stored key back (it was validated when stored).</summary>
    public static ParsedCrossSigningKey FromStored(StoredCrossSigningKey stored) =>
        new(stored.KeyType, stored.PublicKey, E2eeJson.DecodeEd25519PublicKey(stored.PublicKey) ?? [], stored.KeyJson);
}
