using System.Text.Json;

namespace Homeserver.Crypto.KeyRing;

/// <summary>One verify key of a server, as known from its key document.</summary>
public sealed record ServerVerifyKey(string ServerName, string KeyId, byte[] PublicKey, long ValidUntilTs, long? ExpiredTs)
{
    /// <summary>Whether a signature made at <paramref name="ts"/> with this key is acceptable (room versions 5+ check this).</summary>
    public bool ValidAt(long ts) => ExpiredTs is { } expired ? ts < expired : ts <= ValidUntilTs;
}

/// <summary>
/// A server's key document (<c>GET /_matrix/key/v2/server</c>, or one entry of a notary's answer), checked:
/// the right server, well-formed keys, and signed by the server with every one of its current verify keys
/// that signed it (at least one). Pure: no fetching.
/// </summary>
public static class ServerKeyDocument
{
    /// <summary>Parses and verifies a key document of <paramref name="expectedServer"/>. Throws <see cref="FormatException"/> when invalid.</summary>
    public static IReadOnlyList<ServerVerifyKey> Verify(JsonElement doc, string expectedServer)
    {
        if (doc.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("key document is not an object");
        }

        if (!doc.TryGetProperty("server_name", out var name) || name.ValueKind != JsonValueKind.String || name.GetString() != expectedServer)
        {
            throw new FormatException($"key document is not for {expectedServer}");
        }

        if (!doc.TryGetProperty("valid_until_ts", out var vut) || vut.ValueKind != JsonValueKind.Number || !vut.TryGetInt64(out var validUntil))
        {
            throw new FormatException("key document has no valid_until_ts");
        }

        var keys = new List<ServerVerifyKey>();
        if (!doc.TryGetProperty("verify_keys", out var verifyKeys) || verifyKeys.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("key document has no verify_keys");
        }

        foreach (var k in verifyKeys.EnumerateObject())
        {
            keys.Add(new ServerVerifyKey(expectedServer, k.Name, ReadKey(k.Value), validUntil, null));
        }

        if (doc.TryGetProperty("old_verify_keys", out var old) && old.ValueKind == JsonValueKind.Object)
        {
            foreach (var k in old.EnumerateObject())
            {
                var expired = k.Value.ValueKind == JsonValueKind.Object && k.Value.TryGetProperty("expired_ts", out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var ets) ? ets : 0;
                keys.Add(new ServerVerifyKey(expectedServer, k.Name, ReadKey(k.Value), expired, expired));
            }
        }

        // Every current verify key that signed the document must verify, and at least one must have signed it.
        var signedBy = JsonSigning.GetSignatureKeyIds(doc, expectedServer);
        var checkedAny = false;
        foreach (var key in keys.Where(k => k.ExpiredTs is null))
        {
            if (!signedBy.Contains(key.KeyId))
            {
                continue;
            }

            if (JsonSigning.Verify(doc, expectedServer, key.KeyId, key.PublicKey, CanonicalJsonMode.Legacy) != SignatureVerification.Valid)
            {
                throw new FormatException($"key document signature by {key.KeyId} does not verify");
            }

            checkedAny = true;
        }

        return checkedAny ? keys : throw new FormatException("key document is not signed by any of its own verify keys");
    }

    private static byte[] ReadKey(JsonElement k)
    {
        if (k.ValueKind != JsonValueKind.Object || !k.TryGetProperty("key", out var key) || key.ValueKind != JsonValueKind.String
            || !UnpaddedBase64.TryDecode(key.GetString(), out var bytes) || bytes.Length != Ed25519.PublicKeyLength)
        {
            throw new FormatException("malformed verify key");
        }

        return bytes;
    }
}

/// <summary>Storage of other servers' keys and their signed key documents (implemented by Homeserver.Storage).</summary>
public interface IServerKeyStore
{
    Task<IReadOnlyList<ServerVerifyKey>> GetKeysAsync(string serverName, CancellationToken ct);

    /// <summary>
    /// Stores the keys of a verified document, and the document itself under each of their key IDs (for answering
    /// notary queries) unless the document already kept for a key is valid for longer.
    /// </summary>
    Task StoreAsync(string serverName, IReadOnlyList<ServerVerifyKey> keys, string documentJson, long validUntilTs, long fetchedTs, CancellationToken ct);

    /// <summary>The verified key documents kept for a server's keys, one per key ID (a document may appear under several).</summary>
    Task<IReadOnlyList<StoredKeyDocument>> GetDocumentsAsync(string serverName, CancellationToken ct);
}

/// <summary>The latest verified key document that held key <see cref="KeyId"/>, as its server signed it.</summary>
public sealed record StoredKeyDocument(string KeyId, string Json, long ValidUntilTs);
