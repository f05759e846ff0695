using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core.Configuration;
using Homeserver.Crypto;
using Homeserver.Crypto.KeyRing;
using Homeserver.Federation.Client;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation.Keys;

/// <summary>
/// Other servers' verify keys (server-server API, "Retrieving server keys"): from memory, then the database,
/// then the server itself (<c>/_matrix/key/v2/server</c>), then the configured notaries
/// (<c>/_matrix/key/v2/query</c>). Every document is verified before a key from it is believed; concurrent
/// lookups of one server share one fetch; failures are remembered briefly so a dead server is not hammered.
/// </summary>
public sealed partial class KeyRing(
    HomeserverConfig config,
    ServerKeys ownKeys,
    IServerKeyStore store,
    IFederationClient client,
    TimeProvider time,
    ILogger<KeyRing> logger)
{
    private static readonly TimeSpan FailureBackoff = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, ServerVerifyKey> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task> _fetches = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _failedUntil = new(StringComparer.Ordinal);

    /// <summary>
    /// The key <paramref name="keyId"/> of <paramref name="serverName"/> if it meets <paramref name="validity"/>
    /// (fetching a fresher document if the known one does not); null if no acceptable key can be found.
    /// </summary>
    public async Task<ServerVerifyKey?> GetKeyAsync(string serverName, string keyId, KeyValidity validity, CancellationToken ct)
    {
        if (serverName == config.ServerName)
        {
            return OwnKey(keyId);
        }

        var cacheKey = serverName + "\n" + keyId;
        if (_keys.TryGetValue(cacheKey, out var cached) && Acceptable(cached, validity))
        {
            return cached;
        }

        foreach (var k in await store.GetKeysAsync(serverName, ct))
        {
            _keys[serverName + "\n" + k.KeyId] = k;
        }

        if (_keys.TryGetValue(cacheKey, out cached) && Acceptable(cached, validity))
        {
            return cached;
        }

        if (_failedUntil.TryGetValue(serverName, out var until) && until > time.GetUtcNow())
        {
            // The server cannot be asked right now: a request may still be signed with the key it last published.
            return cached is not null && validity == KeyValidity.Now && cached.ExpiredTs is null ? cached : null;
        }

        // Concurrent lookups of one server share one fetch (the first one's criteria go to the notaries).
        var minimumValidUntil = validity.AtTs ?? time.GetUtcNow().ToUnixTimeMilliseconds();
        var fetch = _fetches.GetOrAdd(serverName, name => FetchAsync(name, keyId, minimumValidUntil, CancellationToken.None));
        try
        {
            await fetch.WaitAsync(ct);
        }
        finally
        {
            _fetches.TryRemove(new KeyValuePair<string, Task>(serverName, fetch));
        }

        return _keys.TryGetValue(cacheKey, out var fetched) && Acceptable(fetched, validity) ? fetched : null;
    }

    /// <summary>Verifies a JSON object's signature by a server (any of its keys that signed it must verify; one must).</summary>
    public async Task<bool> VerifyJsonAsync(JsonElement obj, string serverName, KeyValidity validity, CancellationToken ct, CanonicalJsonMode mode = CanonicalJsonMode.Legacy)
    {
        var keyIds = JsonSigning.GetSignatureKeyIds(obj, serverName).Where(k => k.StartsWith("ed25519:", StringComparison.Ordinal)).ToList();
        if (keyIds.Count == 0)
        {
            return false;
        }

        foreach (var keyId in keyIds)
        {
            var key = await GetKeyAsync(serverName, keyId, validity, ct);
            if (key is not null)
            {
                return JsonSigning.Verify(obj, serverName, keyId, key.PublicKey, mode) == SignatureVerification.Valid;
            }
        }

        return false;
    }

    /// <summary>
    /// Fetches <paramref name="serverName"/>'s key document from the server itself (never from a notary, and whatever
    /// failed before: a notary answers with what the origin says now) and keeps what verifies. False when it cannot be
    /// asked or its answer does not verify.
    /// </summary>
    public Task<bool> RefreshFromOriginAsync(string serverName, CancellationToken ct) => TryDirectAsync(serverName, ct);

    private bool Acceptable(ServerVerifyKey key, KeyValidity validity) => KeyValidityRules.Accepts(key, validity, time.GetUtcNow().ToUnixTimeMilliseconds());

    private ServerVerifyKey? OwnKey(string keyId)
    {
        if (keyId == ownKeys.Current.KeyId)
        {
            return new ServerVerifyKey(config.ServerName, keyId, ownKeys.Current.PublicKey.ToArray(), long.MaxValue, null);
        }

        var old = ownKeys.OldKeys.FirstOrDefault(k => k.KeyId == keyId);
        return old is null || !UnpaddedBase64.TryDecode(old.PublicKeyBase64, out var bytes) ? null : new ServerVerifyKey(config.ServerName, keyId, bytes, old.ExpiredTs, old.ExpiredTs);
    }

    private async Task FetchAsync(string serverName, string? keyId, long minimumValidUntilTs, CancellationToken ct)
    {
        if (await TryDirectAsync(serverName, ct) || await TryNotariesAsync(serverName, keyId, minimumValidUntilTs, ct))
        {
            _failedUntil.TryRemove(serverName, out _);
            return;
        }

        _failedUntil[serverName] = time.GetUtcNow() + FailureBackoff;
    }

    private async Task<bool> TryDirectAsync(string serverName, CancellationToken ct)
    {
        if (!client.MayContact(serverName))
        {
            return false;
        }

        try
        {
            var doc = await client.GetAsync(serverName, "/_matrix/key/v2/server", ct, TimeSpan.FromSeconds(30));
            await AcceptAsync(serverName, doc, ct);
            return true;
        }
        catch (Exception e) when (e is FederationException or FormatException or JsonException)
        {
            LogFetchFailed(serverName, "direct", e.Message);
            return false;
        }
    }

    /// <summary>
    /// Asks the trusted notaries (<c>POST /_matrix/key/v2/query</c>), with <c>minimum_valid_until_ts</c> set as room
    /// versions 5+ require ("servers MUST set the minimum_valid_until_ts property to prompt the notary server to attempt
    /// to refresh the key if appropriate").
    /// </summary>
    private async Task<bool> TryNotariesAsync(string serverName, string? keyId, long minimumValidUntilTs, CancellationToken ct)
    {
        foreach (var notary in config.TrustedKeyServers)
        {
            try
            {
                var criteria = new JsonObject();
                if (keyId is not null)
                {
                    criteria[keyId] = new JsonObject { ["minimum_valid_until_ts"] = minimumValidUntilTs };
                }

                var request = JsonSerializer.SerializeToElement(new JsonObject
                {
                    ["server_keys"] = new JsonObject { [serverName] = criteria },
                });
                var answer = await client.PostAsync(notary.ServerName, "/_matrix/key/v2/query", request, ct, TimeSpan.FromSeconds(30));
                if (!answer.TryGetProperty("server_keys", out var list) || list.ValueKind != JsonValueKind.Array)
                {
                    continue;
                }

                foreach (var doc in list.EnumerateArray())
                {
                    if (!VerifiedByNotary(doc, notary))
                    {
                        LogFetchFailed(serverName, notary.ServerName, "notary signature missing or invalid");
                        continue;
                    }

                    await AcceptAsync(serverName, doc, ct);
                    return true;
                }
            }
            catch (Exception e) when (e is FederationException or FormatException or JsonException)
            {
                LogFetchFailed(serverName, notary.ServerName, e.Message);
            }
        }

        return false;
    }

    private static bool VerifiedByNotary(JsonElement doc, TrustedKeyServer notary)
    {
        if (notary.VerifyKeys.Count == 0)
        {
            // No pinned keys configured: the notary's TLS identity is all we have (as Synapse does).
            return true;
        }

        foreach (var (keyId, keyBase64) in notary.VerifyKeys)
        {
            if (UnpaddedBase64.TryDecode(keyBase64, out var key)
                && JsonSigning.Verify(doc, notary.ServerName, keyId, key, CanonicalJsonMode.Legacy) == SignatureVerification.Valid)
            {
                return true;
            }
        }

        return false;
    }

    private async Task AcceptAsync(string serverName, JsonElement doc, CancellationToken ct)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var keys = KeyValidityRules.AsKept(ServerKeyDocument.Verify(doc, serverName), now);
        var validUntil = doc.GetProperty("valid_until_ts").GetInt64();
        await store.StoreAsync(serverName, keys, doc.GetRawText(), validUntil, now, ct);
        foreach (var k in keys)
        {
            _keys.AddOrUpdate(serverName + "\n" + k.KeyId, k, (_, old) => old.PublicKey.AsSpan().SequenceEqual(k.PublicKey) && old.ValidUntilTs > k.ValidUntilTs ? old : k);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Fetching the keys of {ServerName} ({Source}) failed: {Reason}")]
    private partial void LogFetchFailed(string serverName, string source, string reason);
}
