using System.Globalization;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.E2ee.ToDevice;
using Homeserver.Sync.SlidingSync;

namespace Homeserver.E2ee.Sync;

/// <summary>
/// The sliding sync <c>to_device</c> extension (MSC3885, as MSC4186 clients such as Element X use it).
/// Request: <c>{"enabled": true, "since": "&lt;next_batch&gt;", "limit": 100}</c>; response:
/// <c>{"next_batch": "...", "events": [...]}</c>. The extension keeps its own token rather than following
/// <c>pos</c>: a request's <c>since</c> acknowledges (deletes) the messages the answer that gave it delivered, so
/// messages are never lost to an answer the client did not see. Messages are per device, shared by every
/// connection of that device, as in /sync. New messages end a long-poll (<see cref="ToDeviceService"/> wakes the user).
/// </summary>
public sealed class ToDeviceExtension(ToDeviceService toDevice, E2eeOptions options) : ISlidingSyncExtension
{
    public string Name => "to_device";

    public async Task<SlidingExtensionResult?> ComputeAsync(SlidingExtensionContext context, CancellationToken ct)
    {
        var (since, limit) = ParseConfig(context.Config, options.ToDeviceSyncLimit);
        var batch = await toDevice.TakeForSlidingSyncAsync(context.Requester.UserId, context.Requester.DeviceId, since, limit, context.UpTo.Stream, ct);
        return new SlidingExtensionResult(batch.Events.Count > 0, w =>
        {
            w.WriteStartObject();
            w.WriteString("next_batch"u8, batch.NextBatch.ToString(CultureInfo.InvariantCulture));
            w.WritePropertyName("events"u8);
            w.WriteStartArray();
            foreach (var m in batch.Events)
            {
                E2eeSyncSection.WriteToDeviceEvent(w, m);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary><c>since</c>: a <c>next_batch</c> (a decimal position; Synapse's clients send it as a string); <c>limit</c>: a non-negative integer.</summary>
    internal static (long? Since, int Limit) ParseConfig(JsonElement config, int defaultLimit)
    {
        long? since = null;
        if (config.TryGetProperty("since", out var s) && s.ValueKind != JsonValueKind.Null)
        {
            since = s.ValueKind switch
            {
                JsonValueKind.String when long.TryParse(s.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var p) => p,
                JsonValueKind.String => throw MatrixException.InvalidParam("extensions.to_device.since is not a next_batch of this server"),
                JsonValueKind.Number when s.TryGetInt64(out var n) && n >= 0 => n,
                _ => throw MatrixException.BadJson("extensions.to_device.since must be a string"),
            };
        }

        var limit = defaultLimit;
        if (config.TryGetProperty("limit", out var l) && l.ValueKind != JsonValueKind.Null)
        {
            if (l.ValueKind != JsonValueKind.Number || !l.TryGetInt32(out limit) || limit < 0)
            {
                throw MatrixException.BadJson("extensions.to_device.limit must be a non-negative integer");
            }
        }

        return (since, limit);
    }
}
