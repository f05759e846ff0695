using System.Text.Json;
using Homeserver.E2ee.DeviceLists;
using Homeserver.E2ee.Keys;
using Homeserver.E2ee.ToDevice;
using Homeserver.Sync;

namespace Homeserver.E2ee.Sync;

/// <summary>
/// The E2EE parts of <c>/sync</c> (client-server API "Extensions to /sync" of "End-to-End Encryption" and
/// "Send-to-Device messaging"): <c>to_device</c>, <c>device_lists</c>, <c>device_one_time_keys_count</c> and
/// <c>device_unused_fallback_key_types</c> (also under its unstable MSC2732 name, which older clients read).
/// New to-device messages and device list changes end a long-poll; key counts alone do not.
/// </summary>
public sealed class E2eeSyncSection(ToDeviceService toDevice, DeviceListService deviceLists, E2eeKeyService keys, IDeviceKeyStore keyStore) : ISyncSection
{
    public async Task<ISyncContribution> ComputeAsync(SyncContext context, CancellationToken ct)
    {
        var userId = context.Requester.UserId;
        var deviceId = context.Requester.DeviceId;
        var upTo = context.UpTo.Stream;
        long? since = context.Since is { } s ? Math.Min(s.Stream, upTo) : null;

        // Four independent reads at once: a woken long-poll waits for the slowest, not for their sum.
        var messages = toDevice.TakeForSyncAsync(userId, deviceId, context.Since?.Stream, upTo, ct);
        var lists = since is { } after ? deviceLists.GetChangesAsync(userId, after, upTo, ct) : Task.FromResult(DeviceListUpdates.Empty);
        var counts = keys.CountOneTimeKeysAsync(userId, deviceId, ct);
        var fallback = keyStore.GetUnusedFallbackKeyAlgorithmsAsync(userId, deviceId, ct);
        await Task.WhenAll(messages, lists, counts, fallback);
        return new Contribution(await messages, await lists, await counts, await fallback);
    }

    private sealed class Contribution(
        IReadOnlyList<PendingToDevice> messages, DeviceListUpdates lists, IReadOnlyDictionary<string, int> counts, IReadOnlyList<string> fallback) : ISyncContribution
    {
        public bool HasContent => messages.Count > 0 || !lists.IsEmpty;

        public void Write(Utf8JsonWriter writer)
        {
            writer.WritePropertyName("to_device"u8);
            writer.WriteStartObject();
            writer.WritePropertyName("events"u8);
            writer.WriteStartArray();
            foreach (var m in messages)
            {
                WriteToDeviceEvent(writer, m);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
            WriteDeviceLists(writer, lists);
            WriteKeyCounts(writer, counts, fallback);
        }
    }

    /// <summary>One to-device event as clients receive it: <c>content</c>, <c>sender</c>, <c>type</c> (also used by sliding sync).</summary>
    internal static void WriteToDeviceEvent(Utf8JsonWriter writer, PendingToDevice message)
    {
        writer.WriteStartObject();
        writer.WritePropertyName("content"u8);
        writer.WriteRawValue(message.ContentJson, skipInputValidation: true);
        writer.WriteString("sender"u8, message.Sender);
        writer.WriteString("type"u8, message.Type);
        writer.WriteEndObject();
    }

    /// <summary>The <c>device_lists</c> property: <c>{"changed": [...], "left": [...]}</c>.</summary>
    internal static void WriteDeviceLists(Utf8JsonWriter writer, DeviceListUpdates lists)
    {
        writer.WritePropertyName("device_lists"u8);
        writer.WriteStartObject();
        WriteStrings(writer, "changed"u8, lists.Changed);
        WriteStrings(writer, "left"u8, lists.Left);
        writer.WriteEndObject();
    }

    /// <summary>The <c>device_one_time_keys_count</c> and <c>device_unused_fallback_key_types</c> properties (the latter also under its MSC2732 name).</summary>
    internal static void WriteKeyCounts(Utf8JsonWriter writer, IReadOnlyDictionary<string, int> counts, IReadOnlyList<string> fallback)
    {
        writer.WritePropertyName("device_one_time_keys_count"u8);
        writer.WriteStartObject();
        foreach (var (algorithm, count) in counts)
        {
            writer.WriteNumber(algorithm, count);
        }

        writer.WriteEndObject();
        WriteStrings(writer, "device_unused_fallback_key_types"u8, fallback);
        WriteStrings(writer, "org.matrix.msc2732.device_unused_fallback_key_types"u8, fallback);
    }

    private static void WriteStrings(Utf8JsonWriter writer, ReadOnlySpan<byte> name, IReadOnlyList<string> values)
    {
        writer.WritePropertyName(name);
        writer.WriteStartArray();
        foreach (var v in values)
        {
            writer.WriteStringValue(v);
        }

        writer.WriteEndArray();
    }
}
