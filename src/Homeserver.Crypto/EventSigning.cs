using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Crypto;

/// <summary>
/// Hashing and signing events, and checking their signatures.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#adding-hashes-and-signatures-to-outgoing-events and
/// https://spec.matrix.org/v1.19/server-server-api/#validating-hashes-and-signatures-on-received-events.
/// A signature covers the <em>redacted</em> event (so it still verifies after a redaction), and the redacted event
/// keeps <c>hashes</c>, so the signature also pins the full content through the content hash.
/// </summary>
public static class EventSigning
{
    /// <summary>
    /// Adds the content hash, then signs as <paramref name="origin"/>; returns the full event (with
    /// <c>unsigned</c> untouched) as canonical JSON. This is what a server does to each event it creates.
    /// </summary>
    public static byte[] HashAndSign(JsonElement ev, RoomVersion version, string origin, Ed25519SigningKey key)
    {
        ArgumentNullException.ThrowIfNull(version);
        var hashed = EventHashing.AddContentHash(ev, CanonicalJson.ModeFor(version));
        using var document = JsonDocument.Parse(hashed);
        return Sign(document.RootElement, version, origin, key);
    }

    /// <summary>
    /// Adds a signature by <paramref name="origin"/> to an event that already has its hashes (for example the
    /// resident server co-signing a join in <c>send_join</c>); other signatures are kept.
    /// </summary>
    public static byte[] Sign(JsonElement ev, RoomVersion version, string origin, Ed25519SigningKey key)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(origin);
        ArgumentNullException.ThrowIfNull(key);
        var signature = CreateSignature(ev, version, key);
        return JsonSigning.WithSignature(ev, origin, key.KeyId, signature, CanonicalJson.ModeFor(version));
    }

    /// <summary>
    /// The event as canonical JSON with <paramref name="signature"/> (made earlier by <see cref="CreateSignature"/>, over
    /// the same redacted form) added under <c>signatures[origin][keyId]</c>; other signatures are kept.
    /// </summary>
    public static byte[] WithSignature(JsonElement ev, RoomVersion version, string origin, string keyId, string signature)
    {
        ArgumentNullException.ThrowIfNull(version);
        return JsonSigning.WithSignature(ev, origin, keyId, signature, CanonicalJson.ModeFor(version));
    }

    /// <summary>The unpadded Base64 signature of the redacted event, without adding it anywhere.</summary>
    public static string CreateSignature(JsonElement ev, RoomVersion version, Ed25519SigningKey key)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(key);
        using var writer = new CanonicalJsonWriter(CanonicalJson.ModeFor(version));
        Redaction.Write(writer, ev, version.Redaction, JsonSigning.SignedPart);
        return key.SignToBase64(writer.WrittenSpan);
    }

    /// <summary>
    /// Checks <c>signatures[entity][keyId]</c> over the redacted event. Works on the full event or on a redacted
    /// copy alike. Choosing which entities must have signed (the sender's server; in v1/v2 also the event ID's)
    /// and which keys are valid at <c>origin_server_ts</c> is the caller's job.
    /// </summary>
    public static SignatureVerification VerifySignature(
        JsonElement ev,
        RoomVersion version,
        string entity,
        string keyId,
        ReadOnlySpan<byte> publicKey)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(entity);
        ArgumentNullException.ThrowIfNull(keyId);
        if (ev.ValueKind != JsonValueKind.Object)
        {
            return SignatureVerification.InvalidJson;
        }

        Span<byte> signature = stackalloc byte[Ed25519SigningKey.SignatureLength];
        var found = JsonSigning.FindSignature(ev, entity, keyId, signature);
        if (found != SignatureVerification.Valid)
        {
            return found;
        }

        if (publicKey.Length != Ed25519.PublicKeyLength)
        {
            return SignatureVerification.InvalidPublicKey;
        }

        using var writer = new CanonicalJsonWriter(CanonicalJson.ModeFor(version));
        try
        {
            Redaction.Write(writer, ev, version.Redaction, JsonSigning.SignedPart);
        }
        catch (CanonicalJsonException)
        {
            return SignatureVerification.InvalidJson;
        }

        return Ed25519.Verify(publicKey, writer.WrittenSpan, signature)
            ? SignatureVerification.Valid
            : SignatureVerification.BadSignature;
    }
}
