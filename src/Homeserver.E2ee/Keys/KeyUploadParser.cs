using System.Text.Json;
using Homeserver.Core;
using Homeserver.Crypto;

namespace Homeserver.E2ee.Keys;

/// <summary>Device keys from an upload, checked: canonical text to store and the device's ed25519 public key (null only when self-signatures are not required).</summary>
public sealed record ParsedDeviceKeys(string CanonicalJson, byte[]? Ed25519Key);

/// <summary>
/// Validation of what <c>POST /keys/upload</c> (and a dehydrated device upload) carries
/// (client-server API "Uploading keys", "Key algorithms"). Pure: no storage, no clock.
/// Wrong shapes are <c>M_BAD_JSON</c> (as Synapse answers), bad signatures <c>M_INVALID_SIGNATURE</c>.
/// </summary>
public static class KeyUploadParser
{
    /// <summary>Checks <c>device_keys</c>: owner and device match the requester, the required fields, and the self-signature.</summary>
    public static ParsedDeviceKeys ParseDeviceKeys(JsonElement deviceKeys, string userId, string deviceId, bool requireSelfSigned)
    {
        if (deviceKeys.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("device_keys must be an object");
        }

        // Ownership first: a request for someone else's device is refused whatever else it holds.
        if (StringField(deviceKeys, "user_id") != userId)
        {
            throw MatrixException.BadJson("Provided `user_id` in `device_keys` does not match that of the authenticated user");
        }

        if (StringField(deviceKeys, "device_id") != deviceId)
        {
            throw MatrixException.BadJson("Provided `device_id` in `device_keys` does not match that of the authenticated user device");
        }

        if (!deviceKeys.TryGetProperty("algorithms", out var algorithms) || algorithms.ValueKind != JsonValueKind.Array
            || algorithms.EnumerateArray().Any(a => a.ValueKind != JsonValueKind.String))
        {
            throw MatrixException.BadJson("device_keys.algorithms must be an array of strings");
        }

        if (!deviceKeys.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Object
            || keys.EnumerateObject().Any(k => k.Value.ValueKind != JsonValueKind.String))
        {
            throw MatrixException.BadJson("device_keys.keys must be an object of strings");
        }

        if (!deviceKeys.TryGetProperty("signatures", out var signatures) || !IsSignaturesMap(signatures))
        {
            throw MatrixException.BadJson("device_keys.signatures must be a map of user ID to key ID to signature");
        }

        var canonical = E2eeJson.ToCanonicalText(deviceKeys);
        var keyId = "ed25519:" + deviceId;
        byte[]? publicKey = null;
        if (keys.TryGetProperty(keyId, out var keyValue))
        {
            publicKey = E2eeJson.DecodeEd25519PublicKey(keyValue.GetString());
        }

        if (!requireSelfSigned)
        {
            return new ParsedDeviceKeys(canonical, publicKey);
        }

        if (publicKey is null)
        {
            throw MatrixException.BadJson($"device_keys.keys must hold the device's ed25519 key '{keyId}' (32 bytes, unpadded Base64)");
        }

        if (JsonSigning.Verify(deviceKeys, userId, keyId, publicKey) != SignatureVerification.Valid)
        {
            throw E2eeErrorCodes.InvalidSignature($"device_keys must be signed by the device's key {keyId}");
        }

        return new ParsedDeviceKeys(canonical, publicKey);
    }

    /// <summary>
    /// Checks <c>one_time_keys</c> or <c>fallback_keys</c>: names <c>algorithm:key_id</c>, values a string (an unsigned
    /// key) or a key object (<c>key</c>, <c>signatures</c>, optional <c>fallback</c>) signed by the device.
    /// </summary>
    /// <param name="signingKey">The device's ed25519 key (from this upload or stored); null if it has none.</param>
    public static IReadOnlyList<UploadedKey> ParseKeys(
        JsonElement? keys, string field, string userId, string deviceId, byte[]? signingKey, bool requireSelfSigned, bool fallback)
    {
        if (keys is not { } map || map.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (map.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson($"{field} must be an object");
        }

        var result = new List<UploadedKey>();
        var deviceKeyId = "ed25519:" + deviceId;
        foreach (var property in map.EnumerateObject())
        {
            var parts = property.Name.Split(':');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            {
                throw MatrixException.BadJson($"Invalid {field} key '{property.Name}'. Expected \"<algorithm>:<key_id>\".");
            }

            var value = property.Value;
            switch (value.ValueKind)
            {
                case JsonValueKind.String:
                    break;
                case JsonValueKind.Object:
                    if (!value.TryGetProperty("key", out var key) || key.ValueKind != JsonValueKind.String)
                    {
                        throw MatrixException.BadJson($"{field}.{property.Name}.key must be a string");
                    }

                    if (!value.TryGetProperty("signatures", out var sigs) || !IsSignaturesMap(sigs))
                    {
                        throw MatrixException.BadJson($"{field}.{property.Name}.signatures must be a map of user ID to key ID to signature");
                    }

                    if (value.TryGetProperty("fallback", out var fb) && fb.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                    {
                        throw MatrixException.BadJson($"{field}.{property.Name}.fallback must be a boolean");
                    }

                    if (requireSelfSigned)
                    {
                        if (signingKey is null)
                        {
                            throw E2eeErrorCodes.InvalidSignature("Upload the device keys before signed one-time or fallback keys");
                        }

                        if (JsonSigning.Verify(value, userId, deviceKeyId, signingKey) != SignatureVerification.Valid)
                        {
                            throw E2eeErrorCodes.InvalidSignature($"{field}.{property.Name} must be signed by the device's key {deviceKeyId}");
                        }
                    }

                    break;
                default:
                    throw MatrixException.BadJson($"{field}.{property.Name} must be a string or a key object");
            }

            result.Add(new UploadedKey(parts[0], parts[1], E2eeJson.ToCanonicalText(value)));
        }

        if (fallback && result.GroupBy(k => k.Algorithm, StringComparer.Ordinal).Any(g => g.Count() > 1))
        {
            throw MatrixException.InvalidParam("fallback_keys may hold at most one key per algorithm");
        }

        return result;
    }

    /// <summary>
    /// Whether a re-uploaded one-time key is the one already stored: strings must be equal; key objects equal apart
    /// from their signatures (a client may sign again), as Synapse compares them.
    /// </summary>
    public static bool SameOneTimeKey(string storedJson, string uploadedJson)
    {
        using var stored = JsonDocument.Parse(storedJson);
        using var uploaded = JsonDocument.Parse(uploadedJson);
        if (stored.RootElement.ValueKind == JsonValueKind.Object && uploaded.RootElement.ValueKind == JsonValueKind.Object)
        {
            var a = CanonicalJson.Encode(stored.RootElement, CanonicalJsonMode.Strict, "signatures");
            var b = CanonicalJson.Encode(uploaded.RootElement, CanonicalJsonMode.Strict, "signatures");
            return a.AsSpan().SequenceEqual(b);
        }

        return string.Equals(storedJson, uploadedJson, StringComparison.Ordinal);
    }

    /// <summary>The ed25519 key of a device from its stored keys; null if absent or malformed.</summary>
    public static byte[]? Ed25519KeyOf(string storedDeviceKeys, string deviceId)
    {
        using var doc = JsonDocument.Parse(storedDeviceKeys);
        return doc.RootElement.TryGetProperty("keys", out var keys) && keys.ValueKind == JsonValueKind.Object
            && keys.TryGetProperty("ed25519:" + deviceId, out var k) && k.ValueKind == JsonValueKind.String
                ? E2eeJson.DecodeEd25519PublicKey(k.GetString())
                : null;
    }

    internal static bool IsSignaturesMap(JsonElement signatures) =>
        signatures.ValueKind == JsonValueKind.Object
        && signatures.EnumerateObject().All(u => u.Value.ValueKind == JsonValueKind.Object
            && u.Value.EnumerateObject().All(s => s.Value.ValueKind == JsonValueKind.String));

    private static string? StringField(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
