using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core.Configuration;
using Homeserver.Crypto;
using Homeserver.Crypto.KeyRing;

namespace Homeserver.Federation.Keys;

/// <summary>
/// What is asked of one server's keys: key ID → the <c>minimum_valid_until_ts</c> asked for (null: none); no key IDs
/// means all its keys, then valid until <see cref="MinimumValidUntilTs"/> when given.
/// </summary>
public sealed record KeyCriteria(IReadOnlyDictionary<string, long?> KeyIds, long? MinimumValidUntilTs = null);

/// <summary>
/// Acting as a notary for other servers' keys (server-server API "Querying keys through another server"): for each
/// server and key asked about, the key document kept for that key, fetched again from the server itself when we have
/// none or it is not valid until the <c>minimum_valid_until_ts</c> asked for, and countersigned by us.
///
/// As Synapse: the documents are kept per key, so an origin that later stops listing a key (or answers with another
/// key) does not make us forget the document that proved it; when the origin cannot be reached, or answers with a
/// document that is still not valid long enough, what we have is returned anyway (even an expired key: the requester
/// decides what it accepts).
/// </summary>
public sealed class KeyNotary(HomeserverConfig config, ServerKeys ownKeys, IServerKeyStore store, KeyRing keyRing, TimeProvider time)
{
    /// <summary>The countersigned key documents answering <paramref name="query"/> (server name → what is asked of its keys).</summary>
    public async Task<JsonArray> QueryAsync(IReadOnlyDictionary<string, KeyCriteria> query, CancellationToken ct)
    {
        var result = new JsonArray();
        var now = time.GetUtcNow();
        foreach (var (serverName, criteria) in query)
        {
            var keyIds = criteria.KeyIds;
            if (serverName == config.ServerName)
            {
                // Our own document is signed by us already.
                result.Add(ownKeys.BuildKeyDocument(now));
                continue;
            }

            var documents = await store.GetDocumentsAsync(serverName, ct);
            if (NeedsFetch(documents, criteria, now.ToUnixTimeMilliseconds()) && await keyRing.RefreshFromOriginAsync(serverName, ct))
            {
                documents = await store.GetDocumentsAsync(serverName, ct);
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var document in documents.Where(d => keyIds.Count == 0 || keyIds.ContainsKey(d.KeyId)))
            {
                if (seen.Add(document.Json) && JsonNode.Parse(document.Json) is JsonObject doc)
                {
                    // Signed over the document as its server signed it (legacy canonical JSON: we do not re-encode
                    // what another server wrote).
                    JsonSigning.SignInPlace(doc, config.ServerName, ownKeys.Current, CanonicalJsonMode.Legacy);
                    result.Add(doc);
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Whether the origin must be asked again: a key asked about has no document, or its document is not valid until
    /// the time asked for (without one: is no longer valid). Without key IDs: no document at all, or none valid until
    /// the time asked for.
    /// </summary>
    internal static bool NeedsFetch(IReadOnlyList<StoredKeyDocument> documents, KeyCriteria criteria, long nowTs)
    {
        if (criteria.KeyIds.Count == 0)
        {
            return documents.Count == 0 || documents.Max(d => d.ValidUntilTs) < (criteria.MinimumValidUntilTs ?? nowTs);
        }

        foreach (var (keyId, minimumValidUntil) in criteria.KeyIds)
        {
            var document = documents.FirstOrDefault(d => d.KeyId == keyId);
            if (document is null || document.ValidUntilTs < (minimumValidUntil ?? nowTs))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Reads the <c>server_keys</c> of <c>POST /_matrix/key/v2/query</c>; null when it is not a map of server names to
    /// maps of key IDs to criteria objects.
    /// </summary>
    public static IReadOnlyDictionary<string, KeyCriteria>? ParseQuery(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("server_keys", out var servers) || servers.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var query = new Dictionary<string, KeyCriteria>(StringComparer.Ordinal);
        foreach (var server in servers.EnumerateObject())
        {
            if (server.Value.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            var keyIds = new Dictionary<string, long?>(StringComparer.Ordinal);
            foreach (var key in server.Value.EnumerateObject())
            {
                if (key.Value.ValueKind != JsonValueKind.Object)
                {
                    return null;
                }

                long? minimum = null;
                if (key.Value.TryGetProperty("minimum_valid_until_ts", out var m) && m.ValueKind != JsonValueKind.Null)
                {
                    if (m.ValueKind != JsonValueKind.Number || !m.TryGetInt64(out var ts))
                    {
                        return null;
                    }

                    minimum = ts;
                }

                keyIds[key.Name] = minimum;
            }

            query[server.Name] = new KeyCriteria(keyIds);
        }

        return query;
    }
}
