using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Federation;
using Homeserver.E2ee;
using Homeserver.E2ee.CrossSigning;
using Homeserver.E2ee.Keys;

namespace Homeserver.Federation.E2ee;

/// <summary>A remote user's device list as their server answered <c>GET /user/devices/{userId}</c>, verified.</summary>
public sealed record RemoteDeviceSnapshot(string UserId, long StreamId, IReadOnlyList<CachedRemoteDevice> Devices, IReadOnlyList<CachedCrossSigningKey> CrossSigningKeys);

/// <summary>An <c>m.device_list_update</c> EDU, verified. <see cref="KeysRejected"/>: it carried keys that do not verify.</summary>
public sealed record DeviceListUpdateEdu(string UserId, string DeviceId, long StreamId, IReadOnlyList<long> PrevIds, bool Deleted, string? KeyJson, string? DisplayName, bool KeysRejected);

/// <summary>
/// Reads what other servers send about their users' keys (server-server API "Device Management", "End-to-End
/// Encryption") without trusting its shape: every user must belong to the server that speaks for them, device keys
/// must name their owner and device and (when <see cref="E2eeOptions.RequireSelfSignedKeys"/>) be signed by the
/// device's own key, a self-signing key must be signed by the master key. What does not verify is left out. Pure.
/// </summary>
public static class RemoteKeyParser
{
    /// <summary>
    /// The device's keys as canonical JSON without <c>unsigned</c>, or null when they do not verify. Without
    /// <paramref name="requireSelfSigned"/> (test deployments: SyTest's fake servers announce placeholder objects such
    /// as <c>{"device_keys": {}}</c>), an object that does not have the shape of device keys is kept as it is, as
    /// Synapse keeps what the user's server says (clients verify device keys themselves), unless it names another user
    /// or device.
    /// </summary>
    public static string? DeviceKeys(JsonElement keys, string userId, string deviceId, bool requireSelfSigned)
    {
        if (keys.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var obj = JsonNode.Parse(keys.GetRawText())!.AsObject();
        obj.Remove("unsigned");
        var withoutUnsigned = JsonSerializer.SerializeToElement(obj);
        try
        {
            return KeyUploadParser.ParseDeviceKeys(withoutUnsigned, userId, deviceId, requireSelfSigned).CanonicalJson;
        }
        catch (MatrixException) when (!requireSelfSigned && NamesOnly(withoutUnsigned, userId, deviceId))
        {
            // Falls through to keeping the object as it is.
        }
        catch (MatrixException)
        {
            return null;
        }

        try
        {
            return E2eeJson.ToCanonicalText(withoutUnsigned);
        }
        catch (MatrixException)
        {
            return null; // no canonical form (floats, huge integers)
        }
    }

    /// <summary>Whether an object's <c>user_id</c> and <c>device_id</c>, where present, are the given ones.</summary>
    private static bool NamesOnly(JsonElement keys, string userId, string deviceId) =>
        (!keys.TryGetProperty("user_id", out var u) || (u.ValueKind == JsonValueKind.String && u.GetString() == userId))
        && (!keys.TryGetProperty("device_id", out var d) || (d.ValueKind == JsonValueKind.String && d.GetString() == deviceId));

    /// <summary>The master key and the self-signing key that verify (a self-signing key needs a master key: given, or <paramref name="knownMaster"/>).</summary>
    public static IReadOnlyList<CachedCrossSigningKey> CrossSigningKeys(JsonElement? master, JsonElement? selfSigning, string userId, CachedCrossSigningKey? knownMaster = null)
    {
        var result = new List<CachedCrossSigningKey>();
        ParsedCrossSigningKey? parsedMaster = null;
        if (master is { ValueKind: JsonValueKind.Object } m)
        {
            try
            {
                parsedMaster = CrossSigningKeyValidator.Validate(m, userId, CrossSigningKeyTypes.Master, null);
                result.Add(new CachedCrossSigningKey(CrossSigningKeyTypes.Master, parsedMaster.PublicKey, parsedMaster.CanonicalJson));
            }
            catch (MatrixException)
            {
                return []; // a self-signing key is only as good as the master key that signed it
            }
        }
        else if (knownMaster is not null)
        {
            parsedMaster = CrossSigningKeyValidator.FromStored(new StoredCrossSigningKey(userId, knownMaster.KeyType, knownMaster.PublicKey, knownMaster.KeyJson));
        }

        if (selfSigning is { ValueKind: JsonValueKind.Object } s && parsedMaster is not null)
        {
            try
            {
                var parsed = CrossSigningKeyValidator.Validate(s, userId, CrossSigningKeyTypes.SelfSigning, parsedMaster);
                result.Add(new CachedCrossSigningKey(CrossSigningKeyTypes.SelfSigning, parsed.PublicKey, parsed.CanonicalJson));
            }
            catch (MatrixException)
            {
                // left out
            }
        }

        return result;
    }

    /// <summary>Reads a <c>/user/devices</c> answer. Throws <see cref="FormatException"/> when it is not one for <paramref name="userId"/>.</summary>
    public static RemoteDeviceSnapshot UserDevices(JsonElement answer, string userId, bool requireSelfSigned)
    {
        if (answer.ValueKind != JsonValueKind.Object || Text(answer, "user_id") != userId)
        {
            throw new FormatException($"the answer is not about {userId}");
        }

        if (!answer.TryGetProperty("stream_id", out var sid) || !Integer(sid, out var streamId) || streamId < 0)
        {
            throw new FormatException("the answer has no valid stream_id");
        }

        if (!answer.TryGetProperty("devices", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException("the answer has no devices array");
        }

        var devices = new Dictionary<string, CachedRemoteDevice>(StringComparer.Ordinal);
        foreach (var device in list.EnumerateArray())
        {
            if (device.ValueKind != JsonValueKind.Object || Text(device, "device_id") is not { Length: > 0 } deviceId)
            {
                continue;
            }

            var keys = device.TryGetProperty("keys", out var k) ? DeviceKeys(k, userId, deviceId, requireSelfSigned) : null;
            devices[deviceId] = new CachedRemoteDevice(deviceId, keys, Text(device, "device_display_name"));
        }

        var crossSigning = CrossSigningKeys(Object(answer, "master_key"), Object(answer, "self_signing_key"), userId);
        return new RemoteDeviceSnapshot(userId, streamId, devices.Values.ToList(), crossSigning);
    }

    /// <summary>Reads an <c>m.device_list_update</c> EDU from <paramref name="origin"/>; null when it is malformed or about another server's user.</summary>
    public static DeviceListUpdateEdu? DeviceListUpdate(JsonElement content, string origin, bool requireSelfSigned)
    {
        if (content.ValueKind != JsonValueKind.Object
            || Text(content, "user_id") is not { } userId || !MatrixId.IsValidUserId(userId) || MatrixId.ServerOf(userId) != origin
            || Text(content, "device_id") is not { Length: > 0 } deviceId
            || !content.TryGetProperty("stream_id", out var sid) || !Integer(sid, out var streamId) || streamId < 0)
        {
            return null;
        }

        var prevIds = new List<long>();
        if (content.TryGetProperty("prev_id", out var prev) && prev.ValueKind != JsonValueKind.Null)
        {
            if (prev.ValueKind != JsonValueKind.Array)
            {
                return null;
            }

            foreach (var p in prev.EnumerateArray())
            {
                if (!Integer(p, out var id))
                {
                    return null;
                }

                prevIds.Add(id);
            }
        }

        var deleted = content.TryGetProperty("deleted", out var d) && d.ValueKind == JsonValueKind.True;
        string? keyJson = null;
        var rejected = false;
        if (!deleted && content.TryGetProperty("keys", out var keys) && keys.ValueKind != JsonValueKind.Null)
        {
            keyJson = DeviceKeys(keys, userId, deviceId, requireSelfSigned);
            rejected = keyJson is null;
        }

        return new DeviceListUpdateEdu(userId, deviceId, streamId, prevIds, deleted, keyJson, deleted ? null : Text(content, "device_display_name"), rejected);
    }

    /// <summary>The user of an <c>m.signing_key_update</c> EDU from <paramref name="origin"/>; null when it is malformed or about another server's user.</summary>
    public static string? SigningKeyUpdateUser(JsonElement content, string origin) =>
        content.ValueKind == JsonValueKind.Object && Text(content, "user_id") is { } userId && MatrixId.IsValidUserId(userId) && MatrixId.ServerOf(userId) == origin
            ? userId
            : null;

    /// <summary>
    /// Keeps of a remote <c>/user/keys/query</c> answer what was asked for and verifies: device keys (with the display
    /// name their server gave in <c>unsigned</c>), master and self-signing keys.
    /// </summary>
    public static JsonObject QueryAnswer(JsonElement answer, IReadOnlyDictionary<string, IReadOnlyList<string>> asked, bool requireSelfSigned)
    {
        var result = new JsonObject { ["device_keys"] = new JsonObject(), ["master_keys"] = new JsonObject(), ["self_signing_keys"] = new JsonObject() };
        if (answer.ValueKind != JsonValueKind.Object)
        {
            return result;
        }

        foreach (var (userId, wanted) in asked)
        {
            if (Object(answer, "device_keys") is { } all && Object(all, userId) is { } devices)
            {
                var forUser = new JsonObject();
                foreach (var device in devices.EnumerateObject())
                {
                    if ((wanted.Count > 0 && !wanted.Contains(device.Name)) || DeviceKeys(device.Value, userId, device.Name, requireSelfSigned) is not { } canonical)
                    {
                        continue;
                    }

                    forUser[device.Name] = WithDisplayName(canonical, Object(device.Value, "unsigned") is { } u ? Text(u, "device_display_name") : null);
                }

                result["device_keys"]![userId] = forUser;
            }

            var master = Object(answer, "master_keys") is { } mk ? Object(mk, userId) : null;
            var selfSigning = Object(answer, "self_signing_keys") is { } sk ? Object(sk, userId) : null;
            foreach (var key in CrossSigningKeys(master, selfSigning, userId))
            {
                result[key.KeyType == CrossSigningKeyTypes.Master ? "master_keys" : "self_signing_keys"]![userId] = JsonNode.Parse(key.KeyJson);
            }
        }

        return result;
    }

    /// <summary>
    /// Keeps of a remote <c>/user/keys/claim</c> answer one key per device asked for, of the algorithm asked for
    /// (a string or an object, as key objects are).
    /// </summary>
    public static JsonObject ClaimAnswer(JsonElement answer, IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> asked)
    {
        var claimed = new JsonObject();
        if (answer.ValueKind != JsonValueKind.Object || Object(answer, "one_time_keys") is not { } all)
        {
            return new JsonObject { ["one_time_keys"] = claimed };
        }

        foreach (var (userId, devices) in asked)
        {
            if (Object(all, userId) is not { } forUser)
            {
                continue;
            }

            var keptUser = new JsonObject();
            foreach (var (deviceId, algorithm) in devices)
            {
                if (Object(forUser, deviceId) is not { } keys)
                {
                    continue;
                }

                foreach (var key in keys.EnumerateObject())
                {
                    if (key.Name.StartsWith(algorithm + ":", StringComparison.Ordinal) && key.Name.Length > algorithm.Length + 1
                        && key.Value.ValueKind is JsonValueKind.String or JsonValueKind.Object)
                    {
                        keptUser[deviceId] = new JsonObject { [key.Name] = JsonNode.Parse(key.Value.GetRawText()) };
                        break;
                    }
                }
            }

            if (keptUser.Count > 0)
            {
                claimed[userId] = keptUser;
            }
        }

        return new JsonObject { ["one_time_keys"] = claimed };
    }

    /// <summary>Device keys as clients get them: the stored JSON plus <c>unsigned.device_display_name</c> when there is one.</summary>
    public static JsonObject WithDisplayName(string keyJson, string? displayName)
    {
        var obj = JsonNode.Parse(keyJson)!.AsObject();
        var unsigned = new JsonObject();
        if (displayName is not null)
        {
            unsigned["device_display_name"] = displayName;
        }

        obj["unsigned"] = unsigned;
        return obj;
    }

    /// <summary>An integer (a JSON number without fraction that fits 64 bits); anything else is not one (never an exception).</summary>
    private static bool Integer(JsonElement value, out long result)
    {
        result = 0;
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out result);
    }

    private static string? Text(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static JsonElement? Object(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object ? v : null;
}
