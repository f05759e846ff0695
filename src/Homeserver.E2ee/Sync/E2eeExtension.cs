using Homeserver.E2ee.DeviceLists;
using Homeserver.E2ee.Keys;
using Homeserver.Sync.SlidingSync;

namespace Homeserver.E2ee.Sync;

/// <summary>
/// The sliding sync <c>e2ee</c> extension (MSC3884): <c>device_lists</c> (<c>changed</c>, <c>left</c>) for the stream
/// range since the connection's <c>pos</c> (empty on a connection's first request: there is nothing to compare with,
/// the client queries the keys it needs), and the requesting device's <c>device_one_time_keys_count</c> and
/// <c>device_unused_fallback_key_types</c>, always. As in /sync, device list changes end a long-poll (the device list
/// service wakes everyone who shares a room with the user whose keys changed); key counts alone do not.
/// </summary>
public sealed class E2eeExtension(DeviceListService deviceLists, E2eeKeyService keys, IDeviceKeyStore keyStore) : ISlidingSyncExtension
{
    public string Name => "e2ee";

    public async Task<SlidingExtensionResult?> ComputeAsync(SlidingExtensionContext context, CancellationToken ct)
    {
        var userId = context.Requester.UserId;
        var deviceId = context.Requester.DeviceId;
        var upTo = context.UpTo.Stream;
        var lists = context.Since is { } since
            ? await deviceLists.GetChangesAsync(userId, Math.Min(since.Stream, upTo), upTo, ct)
            : DeviceListUpdates.Empty;
        var counts = await keys.CountOneTimeKeysAsync(userId, deviceId, ct);
        var fallback = await keyStore.GetUnusedFallbackKeyAlgorithmsAsync(userId, deviceId, ct);
        return new SlidingExtensionResult(!lists.IsEmpty, w =>
        {
            w.WriteStartObject();
            E2eeSyncSection.WriteDeviceLists(w, lists);
            E2eeSyncSection.WriteKeyCounts(w, counts, fallback);
            w.WriteEndObject();
        });
    }
}
