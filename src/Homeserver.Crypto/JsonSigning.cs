using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Homeserver.Crypto;

/// <summary>The outcome of checking one signature.</summary>
public enum SignatureVerification
{
    /// <summary>The signature is present and verifies.</summary>
    Valid = 0,

    /// <summary>No <c>signatures[entity][keyId]</c> (or <c>signatures</c> is missing).</summary>
    MissingSignature,

    /// <summary>The key ID's algorithm is not <c>ed25519</c>.</summary>
    UnsupportedAlgorithm,

    /// <summary>The signature is not a string, not Base64, or not 64 bytes.</summary>
    MalformedSignature,

    /// <summary>The public key is not 32 bytes.</summary>
    InvalidPublicKey,

    /// <summary>The signed value is not a JSON object or has no canonical encoding in the requested mode.</summary>
    InvalidJson,

    /// <summary>X-Matrix only: the header names a destination that is not us.</summary>
    DestinationMismatch,

    /// <summary>Well-formed, but does not verify: the data was changed or signed by another key.</summary>
    BadSignature,
}

/// <summary>
/// Signing and verifying JSON objects.
/// Spec: https://spec.matrix.org/v1.19/appendices/#signing-details and
/// https://spec.matrix.org/v1.19/appendices/#checking-for-a-signature.
/// The signed bytes are the canonical JSON of the object without <c>signatures</c> and <c>unsigned</c>; the signature
/// goes under <c>signatures[entity][keyId]</c>, next to any existing signatures, and <c>unsigned</c> is kept.
/// </summary>
public static class JsonSigning
{
    internal static readonly KeyFilter SignedPart = KeyFilter.Except("signatures", "unsigned");

    /// <summary>
    /// Signs <paramref name="obj"/> as <paramref name="entity"/> (a server name) and returns the signed object as
    /// canonical JSON UTF-8: every original key, <c>unsigned</c> untouched, the new signature merged into
    /// <c>signatures</c>. Signing with a key ID that already has a signature replaces it.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="obj"/> is not an object, or its <c>signatures</c> is not an object of objects.</exception>
    /// <exception cref="CanonicalJsonException">The object has no canonical encoding in <paramref name="mode"/>.</exception>
    public static byte[] Sign(JsonElement obj, string entity, Ed25519SigningKey key, CanonicalJsonMode mode = CanonicalJsonMode.Strict)
    {
        ArgumentNullException.ThrowIfNull(entity);
        ArgumentNullException.ThrowIfNull(key);
        RequireObject(obj);
        var signature = CreateSignature(obj, key, mode);
        return WithSignature(obj, entity, key.KeyId, signature, mode);
    }

    /// <summary>Signs <paramref name="obj"/> and adds the signature to it in place (creating <c>signatures</c> if needed).</summary>
    public static void SignInPlace(JsonObject obj, string entity, Ed25519SigningKey key, CanonicalJsonMode mode = CanonicalJsonMode.Strict)
    {
        ArgumentNullException.ThrowIfNull(obj);
        ArgumentNullException.ThrowIfNull(entity);
        ArgumentNullException.ThrowIfNull(key);
        string signature;
        using (var document = CanonicalJson.ToDocument(obj))
        {
            signature = CreateSignature(document.RootElement, key, mode);
        }

        if (obj["signatures"] is not JsonObject signatures)
        {
            if (obj["signatures"] is not null)
            {
                throw new ArgumentException("\"signatures\" must be an object.", nameof(obj));
            }

            signatures = [];
            obj["signatures"] = signatures;
        }

        if (signatures[entity] is not JsonObject forEntity)
        {
            if (signatures[entity] is not null)
            {
                throw new ArgumentException($"\"signatures.{entity}\" must be an object.", nameof(obj));
            }

            forEntity = [];
            signatures[entity] = forEntity;
        }

        forEntity[key.KeyId] = signature;
    }

    /// <summary>
    /// The unpadded Base64 signature of <paramref name="obj"/>'s signed part (everything but <c>signatures</c> and
    /// <c>unsigned</c>), without adding it anywhere.
    /// </summary>
    public static string CreateSignature(JsonElement obj, Ed25519SigningKey key, CanonicalJsonMode mode = CanonicalJsonMode.Strict)
    {
        ArgumentNullException.ThrowIfNull(key);
        RequireObject(obj);
        using var writer = new CanonicalJsonWriter(mode);
        writer.WriteObject(obj, SignedPart);
        return key.SignToBase64(writer.WrittenSpan);
    }

    /// <summary>
    /// Checks <c>signatures[entity][keyId]</c> of <paramref name="obj"/> against <paramref name="publicKey"/>, following
    /// "Checking for a signature". Never throws for malformed input: the result says what was wrong.
    /// </summary>
    public static SignatureVerification Verify(
        JsonElement obj,
        string entity,
        string keyId,
        ReadOnlySpan<byte> publicKey,
        CanonicalJsonMode mode = CanonicalJsonMode.Strict)
    {
        ArgumentNullException.ThrowIfNull(entity);
        ArgumentNullException.ThrowIfNull(keyId);
        if (obj.ValueKind != JsonValueKind.Object)
        {
            return SignatureVerification.InvalidJson;
        }

        Span<byte> signature = stackalloc byte[Ed25519SigningKey.SignatureLength];
        var found = FindSignature(obj, entity, keyId, signature);
        if (found != SignatureVerification.Valid)
        {
            return found;
        }

        if (publicKey.Length != Ed25519.PublicKeyLength)
        {
            return SignatureVerification.InvalidPublicKey;
        }

        using var writer = new CanonicalJsonWriter(mode);
        try
        {
            writer.WriteObject(obj, SignedPart);
        }
        catch (CanonicalJsonException)
        {
            return SignatureVerification.InvalidJson;
        }

        return Ed25519.Verify(publicKey, writer.WrittenSpan, signature)
            ? SignatureVerification.Valid
            : SignatureVerification.BadSignature;
    }

    /// <summary>The key IDs under <c>signatures[entity]</c>, in document order (empty if none).</summary>
    public static IReadOnlyList<string> GetSignatureKeyIds(JsonElement obj, string entity)
    {
        if (obj.ValueKind != JsonValueKind.Object
            || !obj.TryGetProperty("signatures"u8, out var signatures) || signatures.ValueKind != JsonValueKind.Object
            || !signatures.TryGetProperty(entity, out var forEntity) || forEntity.ValueKind != JsonValueKind.Object)
        {
            return [];
        }

        var ids = new List<string>();
        foreach (var property in forEntity.EnumerateObject())
        {
            ids.Add(property.Name);
        }

        return ids;
    }

    /// <summary>
    /// Decodes <c>signatures[entity][keyId]</c> into <paramref name="signature"/> (64 bytes); <see cref="SignatureVerification.Valid"/>
    /// means "found and well-formed".
    /// </summary>
    internal static SignatureVerification FindSignature(JsonElement obj, string entity, string keyId, Span<byte> signature)
    {
        if (!keyId.StartsWith(Ed25519SigningKey.Algorithm + ":", StringComparison.Ordinal))
        {
            return SignatureVerification.UnsupportedAlgorithm;
        }

        if (!obj.TryGetProperty("signatures"u8, out var signatures) || signatures.ValueKind != JsonValueKind.Object
            || !signatures.TryGetProperty(entity, out var forEntity) || forEntity.ValueKind != JsonValueKind.Object
            || !forEntity.TryGetProperty(keyId, out var value))
        {
            return SignatureVerification.MissingSignature;
        }

        return TryDecodeSignature(value, signature) ? SignatureVerification.Valid : SignatureVerification.MalformedSignature;
    }

    internal static bool TryDecodeSignature(JsonElement value, Span<byte> signature) =>
        UnpaddedBase64.TryDecodeJsonString(value, signature, out var written) && written == Ed25519SigningKey.SignatureLength;

    /// <summary>
    /// <paramref name="obj"/> as canonical JSON with <c>signatures[entity][keyId] = signature</c> merged in
    /// (existing signatures from this and other entities are kept).
    /// </summary>
    internal static byte[] WithSignature(JsonElement obj, string entity, string keyId, string signature, CanonicalJsonMode mode)
    {
        var signaturesValue = MergedSignatures(obj, entity, keyId, signature, mode);
        using var writer = new CanonicalJsonWriter(mode);
        writer.WriteObject(obj, KeyFilter.All, "signatures"u8, signaturesValue, hasOverride: true);
        return writer.ToArray();
    }

    private static byte[] MergedSignatures(JsonElement obj, string entity, string keyId, string signature, CanonicalJsonMode mode)
    {
        var entityKey = Encoding.UTF8.GetBytes(entity);
        using var writer = new CanonicalJsonWriter(mode, 256);

        // Built inside out: { keyId: signature }, merged into signatures[entity], merged into signatures.
        writer.WriteStartObject();
        writer.WritePropertyName(Encoding.UTF8.GetBytes(keyId));
        writer.WriteStringValue(signature);
        writer.WriteEndObject();
        var single = writer.ToArray();

        if (!obj.TryGetProperty("signatures"u8, out var existing) || existing.ValueKind == JsonValueKind.Null)
        {
            writer.Reset();
            writer.WriteStartObject();
            writer.WritePropertyName(entityKey);
            writer.WriteRawValue(single);
            writer.WriteEndObject();
            return writer.ToArray();
        }

        if (existing.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("\"signatures\" must be an object.", nameof(obj));
        }

        byte[] entityValue;
        if (existing.TryGetProperty(entity, out var existingEntity))
        {
            if (existingEntity.ValueKind != JsonValueKind.Object)
            {
                throw new ArgumentException($"\"signatures.{entity}\" must be an object.", nameof(obj));
            }

            writer.Reset();
            writer.WriteStringValue(signature);
            var signatureToken = writer.ToArray();
            writer.Reset();
            writer.WriteObject(existingEntity, KeyFilter.All, Encoding.UTF8.GetBytes(keyId), signatureToken, hasOverride: true);
            entityValue = writer.ToArray();
        }
        else
        {
            entityValue = single;
        }

        writer.Reset();
        writer.WriteObject(existing, KeyFilter.All, entityKey, entityValue, hasOverride: true);
        return writer.ToArray();
    }

    private static void RequireObject(JsonElement obj)
    {
        if (obj.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("Only JSON objects can be signed.", nameof(obj));
        }
    }
}
