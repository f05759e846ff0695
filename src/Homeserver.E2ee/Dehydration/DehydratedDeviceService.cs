using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.E2ee.DeviceLists;
using Homeserver.E2ee.Keys;
using Homeserver.E2ee.ToDevice;

namespace Homeserver.E2ee.Dehydration;

/// <summary>
/// Dehydrated devices (MSC3814, <c>/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device</c>, as Element's
/// Rust crypto uses it): a device whose encrypted state is kept on the server so that room keys sent to it while the
/// user has no device online can be picked up by the next login. One per user; uploading a new one deletes the old one.
/// </summary>
public sealed class DehydratedDeviceService(
    IDehydratedDeviceStore store,
    ICrossSigningStore crossSigning,
    E2eeKeyService keys,
    DeviceListService deviceLists,
    ToDeviceService toDevice,
    E2eeOptions options,
    TimeProvider time)
{
    /// <summary>
    /// <c>PUT .../dehydrated_device</c>: stores the device (its ID chosen by the client), its data and its keys
    /// (device keys required, self-signed; one-time and fallback keys optional). Returns the device ID.
    /// </summary>
    public async Task<string> PutAsync(Requester requester, JsonElement body, CancellationToken ct)
    {
        var userId = requester.UserId;
        if (!body.TryGetProperty("device_id", out var idElement) || idElement.ValueKind != JsonValueKind.String || idElement.GetString()!.Length == 0)
        {
            throw MatrixException.BadJson("device_id must be a non-empty string");
        }

        var deviceId = idElement.GetString()!;
        if (!body.TryGetProperty("device_data", out var data) || data.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("device_data must be an object");
        }

        string? displayName = null;
        if (body.TryGetProperty("initial_device_display_name", out var name) && name.ValueKind != JsonValueKind.Null)
        {
            displayName = name.ValueKind == JsonValueKind.String ? name.GetString() : throw MatrixException.BadJson("initial_device_display_name must be a string");
        }

        if (!body.TryGetProperty("device_keys", out var deviceKeys) || deviceKeys.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.BadJson("Device key(s) not found, these must be provided.");
        }

        // Everything is checked before anything is stored.
        var parsed = KeyUploadParser.ParseDeviceKeys(deviceKeys, userId, deviceId, options.RequireSelfSignedKeys);
        var oneTimeKeys = KeyUploadParser.ParseKeys(E2eeKeyService.Optional(body, "one_time_keys"), "one_time_keys", userId, deviceId, parsed.Ed25519Key, options.RequireSelfSignedKeys, fallback: false);
        var fallbackKeys = KeyUploadParser.ParseKeys(E2eeKeyService.Optional(body, "fallback_keys"), "fallback_keys", userId, deviceId, parsed.Ed25519Key, options.RequireSelfSignedKeys, fallback: true);
        if ((await crossSigning.GetKeysAsync([userId], ct)).Any(k => k.PublicKey == deviceId))
        {
            throw MatrixException.Forbidden("Device ID in use by a cross-signing key");
        }

        var replaced = await store.ReplaceAsync(userId, deviceId, E2eeJson.ToCanonicalText(data), displayName, time.GetUtcNow().ToUnixTimeMilliseconds(), ct);
        if (replaced.DeviceIdInUse)
        {
            throw MatrixException.InvalidParam("Another device of this user has that device ID");
        }

        if (replaced.ReplacedDeviceId is { } old && old != deviceId)
        {
            // The old device is gone with its keys and messages; what refers to it (signatures) goes too. A new
            // device under the same ID was created afresh, and storing its keys below drops the signatures on it.
            await deviceLists.DevicesDeletedAsync(userId, [old], ct);
        }

        await keys.SaveAsync(userId, deviceId, new DeviceKeysWrite(parsed.CanonicalJson, SignedPartChanged: true), oneTimeKeys, fallbackKeys, ct);
        return deviceId;
    }

    /// <summary><c>GET .../dehydrated_device</c>: the device ID and data, or <c>M_NOT_FOUND</c>.</summary>
    public async Task<JsonObject> GetAsync(string userId, CancellationToken ct)
    {
        var device = await store.GetAsync(userId, ct) ?? throw MatrixException.NotFound("No dehydrated device available");
        return new JsonObject { ["device_id"] = device.DeviceId, ["device_data"] = JsonNode.Parse(device.DeviceDataJson) };
    }

    /// <summary><c>DELETE .../dehydrated_device</c>: deletes the device; its ID, or <c>M_NOT_FOUND</c>.</summary>
    public async Task<string> DeleteAsync(string userId, CancellationToken ct)
    {
        var deleted = await store.DeleteAsync(userId, ct) ?? throw MatrixException.NotFound("No dehydrated device available");
        await deviceLists.DevicesDeletedAsync(userId, [deleted], ct);
        return deleted;
    }

    /// <summary><c>GET|POST .../dehydrated_device/{deviceId}/events</c>: the to-device messages waiting for the user's dehydrated device.</summary>
    public async Task<DehydratedDeviceEvents> GetEventsAsync(string userId, string deviceId, string? from, int limit, bool alwaysNextBatch, CancellationToken ct)
    {
        var device = await store.GetAsync(userId, ct) ?? throw MatrixException.Forbidden("No dehydrated device exists");
        if (device.DeviceId != deviceId)
        {
            throw MatrixException.Forbidden("You may only fetch messages for your dehydrated device");
        }

        return await toDevice.GetForDehydratedDeviceAsync(userId, deviceId, from, limit, alwaysNextBatch, ct);
    }
}
