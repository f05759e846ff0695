using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Streams;
using Homeserver.E2ee.CrossSigning;
using Homeserver.E2ee.DeviceLists;
using Microsoft.Extensions.Logging;

namespace Homeserver.E2ee.Keys;

/// <summary>
/// The key distribution endpoints' rules (client-server API "Key management API"): <c>/keys/upload</c>,
/// <c>/keys/query</c> and <c>/keys/claim</c>. Local users are answered from storage; users on other servers go
/// through <see cref="IRemoteKeyClient"/> and an unreachable server is reported in <c>failures</c>.
/// </summary>
public sealed partial class E2eeKeyService(
    IDeviceKeyStore keys,
    ICrossSigningStore crossSigning,
    DeviceListService deviceLists,
    StreamPositions streams,
    HomeserverConfig config,
    E2eeOptions options,
    TimeProvider time,
    ILogger<E2eeKeyService> logger,
    IRemoteKeyClient? remote = null)
{
    /// <summary>The algorithm Synapse always reports a count for (clients expect the key even at zero).</summary>
    public const string SignedCurve25519 = "signed_curve25519";

    /// <summary>
    /// Stores a device's identity keys, one-time keys and fallback keys; returns the one-time key counts.
    /// New or different identity keys are a device list change. A one-time key ID already stored with a different key
    /// is refused (400, as Synapse, whose message clients recognise); the same key again is ignored.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, int>> UploadAsync(Requester requester, JsonElement body, CancellationToken ct)
    {
        var userId = requester.UserId;
        var deviceId = requester.DeviceId;
        var existing = await keys.GetDeviceKeysAsync(userId, deviceId, ct);
        var signingKey = existing is null ? null : KeyUploadParser.Ed25519KeyOf(existing.KeyJson, deviceId);

        DeviceKeysWrite? deviceKeysWrite = null;
        if (body.TryGetProperty("device_keys", out var deviceKeys))
        {
            var parsed = KeyUploadParser.ParseDeviceKeys(deviceKeys, userId, deviceId, options.RequireSelfSignedKeys);
            signingKey = parsed.Ed25519Key;
            if (existing is null || existing.KeyJson != parsed.CanonicalJson)
            {
                deviceKeysWrite = new DeviceKeysWrite(parsed.CanonicalJson, existing is null || !E2eeJson.SameSignedPart(existing.KeyJson, deviceKeys));
            }
        }

        var oneTimeKeys = KeyUploadParser.ParseKeys(Optional(body, "one_time_keys"), "one_time_keys", userId, deviceId, signingKey, options.RequireSelfSignedKeys, fallback: false);
        var fallbackKeys = KeyUploadParser.ParseKeys(Optional(body, "fallback_keys"), "fallback_keys", userId, deviceId, signingKey, options.RequireSelfSignedKeys, fallback: true);
        oneTimeKeys = await WithoutStoredKeysAsync(userId, deviceId, oneTimeKeys, ct);
        await SaveAsync(userId, deviceId, deviceKeysWrite, oneTimeKeys, fallbackKeys, ct);
        return await CountOneTimeKeysAsync(userId, deviceId, ct);
    }

    /// <summary>Validated keys of a device, stored in one transaction (used by /keys/upload and dehydrated devices).</summary>
    internal async Task SaveAsync(
        string userId, string deviceId, DeviceKeysWrite? deviceKeysWrite, IReadOnlyList<UploadedKey> oneTimeKeys, IReadOnlyList<UploadedKey> fallbackKeys, CancellationToken ct)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        bool saved;
        if (deviceKeysWrite is null)
        {
            if (oneTimeKeys.Count == 0 && fallbackKeys.Count == 0)
            {
                return;
            }

            saved = await keys.SaveAsync(new KeyUploadWrite(userId, deviceId, null, oneTimeKeys, fallbackKeys, null, now), ct);
        }
        else
        {
            long position;
            using (var reservation = streams.Reserve())
            {
                saved = await keys.SaveAsync(new KeyUploadWrite(userId, deviceId, deviceKeysWrite, oneTimeKeys, fallbackKeys, reservation.First, now), ct);
                position = reservation.First;
            }

            if (saved)
            {
                await deviceLists.PublishAsync(position, [new DeviceListChange(userId)], new DeviceListUpdate(userId, [deviceId], false, false, position));
            }
        }

        if (!saved)
        {
            throw new MatrixException(MatrixErrorCode.UnknownToken, 401, "This device no longer exists", new Dictionary<string, object?> { ["soft_logout"] = false });
        }
    }

    /// <summary>Drops the keys already stored as they are; refuses a different key under a stored key ID.</summary>
    internal async Task<IReadOnlyList<UploadedKey>> WithoutStoredKeysAsync(string userId, string deviceId, IReadOnlyList<UploadedKey> oneTimeKeys, CancellationToken ct)
    {
        if (oneTimeKeys.Count == 0)
        {
            return oneTimeKeys;
        }

        var stored = await keys.GetOneTimeKeysAsync(userId, deviceId, oneTimeKeys, ct);
        var result = new List<UploadedKey>(oneTimeKeys.Count);
        foreach (var key in oneTimeKeys)
        {
            if (!stored.TryGetValue(key.FullKeyId, out var old))
            {
                result.Add(key);
            }
            else if (!KeyUploadParser.SameOneTimeKey(old, key.KeyJson))
            {
                throw MatrixException.Unknown($"One time key {key.FullKeyId} already exists. Old key: {old}; new key: {key.KeyJson}");
            }
        }

        return result;
    }

    /// <summary>Unclaimed one-time keys per algorithm, always with <c>signed_curve25519</c> (0 when none).</summary>
    public async Task<IReadOnlyDictionary<string, int>> CountOneTimeKeysAsync(string userId, string deviceId, CancellationToken ct)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal) { [SignedCurve25519] = 0 };
        foreach (var (algorithm, count) in await keys.CountOneTimeKeysAsync(userId, deviceId, ct))
        {
            counts[algorithm] = count;
        }

        return counts;
    }

    /// <summary>
    /// <c>POST /keys/query</c>: device keys and cross-signing keys of the requested users, with the signatures the
    /// requester may see (client-server API "Cross-signing": never another user's user-signing key or its signatures).
    /// </summary>
    public async Task<JsonObject> QueryAsync(Requester requester, JsonElement body, CancellationToken ct)
    {
        var timeout = ReadTimeout(body);
        var wanted = ParseQuery(body);
        var result = new JsonObject
        {
            ["device_keys"] = new JsonObject(),
            ["failures"] = new JsonObject(),
            ["master_keys"] = new JsonObject(),
            ["self_signing_keys"] = new JsonObject(),
            ["user_signing_keys"] = new JsonObject(),
        };
        var signatures = wanted.Count == 0 ? [] : await crossSigning.GetSignaturesAsync(wanted.Keys, requester.UserId, ct);
        var local = wanted.Where(w => MatrixId.ServerOf(w.Key) == config.ServerName).ToDictionary(w => w.Key, w => w.Value, StringComparer.Ordinal);
        if (local.Count > 0)
        {
            await AddLocalKeysAsync(requester.UserId, local, signatures, result, ct);
        }

        var remoteByServer = wanted.Where(w => MatrixId.ServerOf(w.Key) != config.ServerName).GroupBy(w => MatrixId.ServerOf(w.Key)!, StringComparer.Ordinal);
        await Task.WhenAll(remoteByServer.Select(g => AddRemoteKeysAsync(g.Key, g.ToDictionary(x => x.Key, x => (IReadOnlyList<string>)x.Value, StringComparer.Ordinal), requester.UserId, signatures, timeout, result, ct)));
        return result;
    }

    /// <summary>
    /// <c>POST /_matrix/federation/v1/user/keys/query</c>, for federation to call: the keys of this server's users that
    /// another server asks for (device keys, master and self-signing keys; never user-signing keys), with the owners'
    /// own signatures only. Users of other servers are ignored.
    /// </summary>
    public async Task<JsonObject> QueryForServerAsync(JsonElement body, CancellationToken ct)
    {
        var local = ParseQuery(body).Where(w => MatrixId.ServerOf(w.Key) == config.ServerName).ToDictionary(w => w.Key, w => w.Value, StringComparer.Ordinal);
        var result = new JsonObject { ["device_keys"] = new JsonObject(), ["master_keys"] = new JsonObject(), ["self_signing_keys"] = new JsonObject() };
        if (local.Count > 0)
        {
            var signatures = await crossSigning.GetSignaturesAsync(local.Keys, NoViewer, ct);
            await AddLocalKeysAsync(null, local, signatures, result, ct, options.ShareDeviceNamesOverFederation);
        }

        return result;
    }

    /// <summary>
    /// <c>GET /_matrix/federation/v1/user/devices/{userId}</c>, for federation to call: a local user's devices that
    /// have keys (with their display names when <see cref="E2eeOptions.ShareDeviceNamesOverFederation"/>), the master
    /// and self-signing keys, and the device list's version (<c>stream_id</c>, read before the devices, so the answer
    /// includes every change up to it and later <c>m.device_list_update</c> EDUs can be applied on top of it).
    /// </summary>
    public async Task<JsonObject> GetDevicesForServerAsync(string userId, CancellationToken ct)
    {
        if (MatrixId.ServerOf(userId) != config.ServerName)
        {
            throw MatrixException.InvalidParam("User is not hosted on this homeserver");
        }

        var version = await deviceLists.GetVersionAsync(userId, ct);
        var wanted = new Dictionary<string, List<string>>(StringComparer.Ordinal) { [userId] = [] };
        var keysOf = new JsonObject { ["device_keys"] = new JsonObject(), ["master_keys"] = new JsonObject(), ["self_signing_keys"] = new JsonObject() };
        var signatures = await crossSigning.GetSignaturesAsync(wanted.Keys, NoViewer, ct);
        await AddLocalKeysAsync(null, wanted, signatures, keysOf, ct, options.ShareDeviceNamesOverFederation);

        var devices = new JsonArray();
        foreach (var (deviceId, value) in keysOf["device_keys"]![userId]!.AsObject().OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            var keys = value!.DeepClone().AsObject();
            var name = keys["unsigned"]?["device_display_name"]?.GetValue<string>();
            keys.Remove("unsigned");
            var device = new JsonObject { ["device_id"] = deviceId, ["keys"] = keys };
            if (name is not null)
            {
                device["device_display_name"] = name;
            }

            devices.Add(device);
        }

        var result = new JsonObject { ["user_id"] = userId, ["stream_id"] = version, ["devices"] = devices };
        if (keysOf["master_keys"]?[userId] is JsonNode master)
        {
            result["master_key"] = master.DeepClone();
        }

        if (keysOf["self_signing_keys"]?[userId] is JsonNode selfSigning)
        {
            result["self_signing_key"] = selfSigning.DeepClone();
        }

        return result;
    }

    /// <summary>A viewer that is no user: signature reads return the owners' own signatures only.</summary>
    private const string NoViewer = "";

    private static Dictionary<string, List<string>> ParseQuery(JsonElement body)
    {
        if (!body.TryGetProperty("device_keys", out var request) || request.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam("Missing 'device_keys'");
        }

        if (request.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("device_keys must be an object");
        }

        var wanted = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var user in request.EnumerateObject())
        {
            if (!MatrixId.IsValidUserId(user.Name))
            {
                throw MatrixException.InvalidParam($"Invalid user ID {user.Name}");
            }

            var devices = new List<string>();
            if (user.Value.ValueKind == JsonValueKind.Array)
            {
                foreach (var d in user.Value.EnumerateArray())
                {
                    devices.Add(d.ValueKind == JsonValueKind.String ? d.GetString()! : throw MatrixException.BadJson("device_keys values must be arrays of device IDs"));
                }
            }
            else if (user.Value.ValueKind != JsonValueKind.Null)
            {
                throw MatrixException.BadJson("device_keys values must be arrays of device IDs");
            }

            wanted[user.Name] = devices;
        }

        return wanted;
    }

    /// <param name="viewer">The requesting user (who alone sees their own user-signing key); null for another server.</param>
    /// <param name="includeDisplayNames">Device display names in <c>unsigned</c> (always for clients; by configuration for other servers).</param>
    private async Task AddLocalKeysAsync(
        string? viewer, Dictionary<string, List<string>> wanted, IReadOnlyList<StoredSignature> signatures, JsonObject result, CancellationToken ct, bool includeDisplayNames = true)
    {
        var deviceKeys = result["device_keys"]!.AsObject();
        foreach (var user in wanted.Keys)
        {
            deviceKeys[user] = new JsonObject();
        }

        foreach (var device in await keys.GetDeviceKeysForUsersAsync(wanted.Keys, ct))
        {
            var devices = wanted[device.UserId];
            if (devices.Count > 0 && !devices.Contains(device.DeviceId))
            {
                continue;
            }

            var obj = E2eeJson.ParseObject(device.KeyJson);
            foreach (var s in signatures.Where(s => s.TargetUserId == device.UserId && s.TargetKeyId == device.DeviceId && s.SignerUserId == device.UserId))
            {
                E2eeJson.AddSignature(obj, s.SignerUserId, s.SigningKeyId, s.Signature);
            }

            var unsigned = new JsonObject();
            if (device.DisplayName is not null && includeDisplayNames)
            {
                unsigned["device_display_name"] = device.DisplayName;
            }

            obj["unsigned"] = unsigned;
            deviceKeys[device.UserId]![device.DeviceId] = obj;
        }

        foreach (var key in await crossSigning.GetKeysAsync(wanted.Keys, ct))
        {
            var section = key.KeyType switch
            {
                CrossSigningKeyTypes.Master => "master_keys",
                CrossSigningKeyTypes.SelfSigning => "self_signing_keys",
                _ when key.UserId == viewer => "user_signing_keys",
                _ => null, // another user's user-signing key is private to them
            };
            if (section is not null)
            {
                result[section]![key.UserId] = WithSignatures(key.KeyJson, key.UserId, key.PublicKey, signatures);
            }
        }
    }

    /// <summary>A stored cross-signing key with the uploaded signatures on it (those the viewer may see were already selected).</summary>
    private static JsonObject WithSignatures(string keyJson, string userId, string publicKey, IReadOnlyList<StoredSignature> signatures)
    {
        var obj = E2eeJson.ParseObject(keyJson);
        foreach (var s in signatures.Where(s => s.TargetUserId == userId && s.TargetKeyId == publicKey))
        {
            E2eeJson.AddSignature(obj, s.SignerUserId, s.SigningKeyId, s.Signature);
        }

        return obj;
    }

    private async Task AddRemoteKeysAsync(
        string server, IReadOnlyDictionary<string, IReadOnlyList<string>> users, string viewer, IReadOnlyList<StoredSignature> signatures, TimeSpan timeout, JsonObject result, CancellationToken ct)
    {
        JsonObject answer;
        try
        {
            answer = remote is null
                ? throw new InvalidOperationException("Federation is not available")
                : await remote.QueryKeysAsync(server, users, timeout, ct);
        }
#pragma warning disable CA1031 // Any failure of a remote server is reported to the client as that server's failure.
        catch (Exception e) when (!ct.IsCancellationRequested)
#pragma warning restore CA1031
        {
            LogRemoteFailed(server, e.Message);
            lock (result)
            {
                result["failures"]![server] = Failure(e);
            }

            return;
        }

        lock (result)
        {
            foreach (var section in new[] { "device_keys", "master_keys", "self_signing_keys" })
            {
                if (answer[section] is not JsonObject entries)
                {
                    continue;
                }

                foreach (var (userId, value) in entries.ToList())
                {
                    // Only what we asked for, about users of that server: a server speaks for its own users only.
                    if (value is not JsonObject obj || !users.ContainsKey(userId))
                    {
                        continue;
                    }

                    entries.Remove(userId);
                    // Remote answers are untrusted input: read them without assuming their shape.
                    if (section == "master_keys" && obj["keys"] is JsonObject masterKeys && masterKeys.Count == 1
                        && masterKeys.First().Value is JsonValue keyValue && keyValue.TryGetValue<string>(out var publicKey))
                    {
                        foreach (var s in signatures.Where(s => s.TargetUserId == userId && s.TargetKeyId == publicKey && s.SignerUserId == viewer))
                        {
                            E2eeJson.AddSignature(obj, s.SignerUserId, s.SigningKeyId, s.Signature);
                        }
                    }

                    result[section]![userId] = obj;
                }
            }

            // A partial answer (some users from a cache, the server unreachable for the others) names its failure.
            if (answer["failures"] is JsonObject failures && failures[server] is JsonObject failure)
            {
                result["failures"]![server] = failure.DeepClone();
            }
        }
    }

    /// <summary>
    /// <c>POST /keys/claim</c>: one key per requested device and algorithm: a one-time key (handed out once, ever) or
    /// else the device's fallback key. Devices without any key are absent from the answer.
    /// </summary>
    public Task<JsonObject> ClaimAsync(JsonElement body, CancellationToken ct) => ClaimAsync(body, localOnly: false, ct);

    /// <summary>
    /// <c>POST /_matrix/federation/v1/user/keys/claim</c>, for federation to call: claims keys of this server's users
    /// (users of other servers are ignored); the answer has <c>one_time_keys</c>.
    /// </summary>
    public async Task<JsonObject> ClaimForServerAsync(JsonElement body, CancellationToken ct)
    {
        var result = await ClaimAsync(body, localOnly: true, ct);
        result.Remove("failures");
        return result;
    }

    private async Task<JsonObject> ClaimAsync(JsonElement body, bool localOnly, CancellationToken ct)
    {
        if (!body.TryGetProperty("one_time_keys", out var request) || request.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam("Missing 'one_time_keys'");
        }

        if (request.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("one_time_keys must be an object");
        }

        var timeout = ReadTimeout(body);
        var localClaims = new List<ClaimRequest>();
        var remoteClaims = new Dictionary<string, Dictionary<string, IReadOnlyDictionary<string, string>>>(StringComparer.Ordinal);
        foreach (var user in request.EnumerateObject())
        {
            if (!MatrixId.IsValidUserId(user.Name))
            {
                throw MatrixException.InvalidParam($"Invalid user ID {user.Name}");
            }

            if (user.Value.ValueKind != JsonValueKind.Object)
            {
                throw MatrixException.BadJson("one_time_keys values must map device IDs to algorithms");
            }

            var devices = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var device in user.Value.EnumerateObject())
            {
                if (device.Value.ValueKind != JsonValueKind.String || device.Value.GetString()!.Length == 0)
                {
                    throw MatrixException.BadJson("one_time_keys values must map device IDs to algorithms");
                }

                devices[device.Name] = device.Value.GetString()!;
            }

            var server = MatrixId.ServerOf(user.Name)!;
            if (server == config.ServerName)
            {
                localClaims.AddRange(devices.Select(d => new ClaimRequest(user.Name, d.Key, d.Value)));
            }
            else if (!localOnly)
            {
                if (!remoteClaims.TryGetValue(server, out var forServer))
                {
                    remoteClaims[server] = forServer = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
                }

                forServer[user.Name] = devices;
            }
        }

        var result = new JsonObject { ["failures"] = new JsonObject(), ["one_time_keys"] = new JsonObject() };
        var claimed = result["one_time_keys"]!.AsObject();
        if (localClaims.Count > 0)
        {
            foreach (var key in await keys.ClaimAsync(localClaims, ct))
            {
                if (claimed[key.UserId] is not JsonObject forUser)
                {
                    claimed[key.UserId] = forUser = new JsonObject();
                }

                forUser[key.DeviceId] = new JsonObject { [key.Algorithm + ":" + key.KeyId] = JsonNode.Parse(key.KeyJson) };
            }
        }

        await Task.WhenAll(remoteClaims.Select(async r =>
        {
            try
            {
                var answer = remote is null
                    ? throw new InvalidOperationException("Federation is not available")
                    : await remote.ClaimKeysAsync(r.Key, r.Value, timeout, ct);
                lock (result)
                {
                    if (answer["one_time_keys"] is JsonObject entries)
                    {
                        foreach (var (userId, value) in entries.ToList())
                        {
                            if (value is JsonObject && r.Value.ContainsKey(userId))
                            {
                                entries.Remove(userId);
                                claimed[userId] = value;
                            }
                        }
                    }
                }
            }
#pragma warning disable CA1031 // Any failure of a remote server is reported to the client as that server's failure.
            catch (Exception e) when (!ct.IsCancellationRequested)
#pragma warning restore CA1031
            {
                LogRemoteFailed(r.Key, e.Message);
                lock (result)
                {
                    result["failures"]![r.Key] = Failure(e);
                }
            }
        }));
        return result;
    }

    private TimeSpan ReadTimeout(JsonElement body)
    {
        if (!body.TryGetProperty("timeout", out var t) || t.ValueKind == JsonValueKind.Null)
        {
            return options.MaxRemoteTimeout;
        }

        if (t.ValueKind != JsonValueKind.Number || !t.TryGetInt64(out var ms) || ms < 0)
        {
            throw MatrixException.BadJson("timeout must be a non-negative integer (milliseconds)");
        }

        return TimeSpan.FromMilliseconds(Math.Min(ms, (long)options.MaxRemoteTimeout.TotalMilliseconds));
    }

    private static JsonObject Failure(Exception e) => new() { ["status"] = 503, ["message"] = e.Message };

    internal static JsonElement? Optional(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    [LoggerMessage(Level = LogLevel.Information, Message = "Key request to {Server} failed: {Reason}")]
    private partial void LogRemoteFailed(string server, string reason);
}
