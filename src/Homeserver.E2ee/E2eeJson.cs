using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Crypto;

namespace Homeserver.E2ee;

/// <summary>JSON helpers shared by the E2EE services: canonical storage form, signed-part comparison, key IDs.</summary>
public static class E2eeJson
{
    /// <summary>The canonical JSON text we store for an uploaded object; M_BAD_JSON if it has none (floats, huge integers).</summary>
    public static string ToCanonicalText(JsonElement value)
    {
        try
        {
            return Encoding.UTF8.GetString(CanonicalJson.Encode(value));
        }
        catch (CanonicalJsonException e)
        {
            throw MatrixException.BadJson("Invalid JSON value: " + e.Problem);
        }
    }

    /// <summary>The canonical bytes of the signed part of an object (everything but <c>signatures</c> and <c>unsigned</c>); null if it has none.</summary>
    public static byte[]? SignedPart(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        try
        {
            return CanonicalJson.Encode(value, CanonicalJsonMode.Strict, "signatures", "unsigned");
        }
        catch (CanonicalJsonException)
        {
            return null;
        }
    }

    /// <summary>True when both objects are the same key apart from their signatures (and unsigned data).</summary>
    public static bool SameSignedPart(JsonElement a, JsonElement b) =>
        SignedPart(a) is { } x && SignedPart(b) is { } y && x.AsSpan().SequenceEqual(y);

    /// <summary>True when both objects are the same key apart from their signatures (stored text against uploaded element).</summary>
    public static bool SameSignedPart(string storedJson, JsonElement uploaded)
    {
        using var doc = JsonDocument.Parse(storedJson);
        return SameSignedPart(doc.RootElement, uploaded);
    }

    /// <summary>Splits <c>algorithm:id</c> at its first colon; false when either side is empty or there is no colon.</summary>
    public static bool TrySplitKeyId(string keyId, out string algorithm, out string id)
    {
        var colon = keyId.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == keyId.Length - 1)
        {
            algorithm = id = string.Empty;
            return false;
        }

        algorithm = keyId[..colon];
        id = keyId[(colon + 1)..];
        return true;
    }

    /// <summary>A 32-byte ed25519 public key from unpadded Base64; null when it is not one.</summary>
    public static byte[]? DecodeEd25519PublicKey(string? base64) =>
        base64 is not null && UnpaddedBase64.TryDecode(base64, out var bytes) && bytes.Length == Ed25519.PublicKeyLength ? bytes : null;

    /// <summary>Parses stored JSON text into a mutable object.</summary>
    public static JsonObject ParseObject(string json) => JsonNode.Parse(json)!.AsObject();

    /// <summary>
    /// Adds <c>signatures[signer][keyId] = signature</c> to <paramref name="obj"/>, creating the maps as needed and
    /// keeping every signature already there.
    /// </summary>
    public static void AddSignature(JsonObject obj, string signer, string keyId, string signature)
    {
        if (obj["signatures"] is not JsonObject signatures)
        {
            signatures = [];
            obj["signatures"] = signatures;
        }

        if (signatures[signer] is not JsonObject forSigner)
        {
            forSigner = [];
            signatures[signer] = forSigner;
        }

        forSigner[keyId] = signature;
    }

    /// <summary>Reads a signature string from <c>obj.signatures[signer][keyId]</c>.</summary>
    public static string? GetSignature(JsonElement obj, string signer, string keyId) =>
        obj.ValueKind == JsonValueKind.Object
        && obj.TryGetProperty("signatures", out var sigs) && sigs.ValueKind == JsonValueKind.Object
        && sigs.TryGetProperty(signer, out var forSigner) && forSigner.ValueKind == JsonValueKind.Object
        && forSigner.TryGetProperty(keyId, out var sig) && sig.ValueKind == JsonValueKind.String
            ? sig.GetString()
            : null;
}
