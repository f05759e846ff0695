using System.Security.Cryptography;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Streams;
using Homeserver.Crypto;
using Homeserver.Sync;
using Microsoft.Extensions.Logging;

namespace Homeserver.E2ee.ToDevice;

/// <summary>Messages for the sliding sync <c>to_device</c> extension, and the position that acknowledges them.</summary>
public sealed record ToDeviceBatch(IReadOnlyList<PendingToDevice> Events, long NextBatch);

/// <summary>Messages for a dehydrated device, and the token to continue from (absent when there is nothing more).</summary>
public sealed record DehydratedDeviceEvents(IReadOnlyList<PendingToDevice> Events, string? NextBatch);

/// <summary>
/// Send-to-device messaging (client-server API "Send-to-Device messaging"). Each request takes one position of the
/// global stream and is stored once per (sender device, transaction ID). Messages for a device wait in its inbox
/// until a /sync acknowledges the answer that delivered them (its next_batch comes back as <c>since</c>); at most
/// <see cref="E2eeOptions.ToDeviceSyncLimit"/> per answer, at most <see cref="E2eeOptions.MaxPendingToDevicePerDevice"/>
/// waiting (the oldest are dropped beyond it).
/// </summary>
public sealed partial class ToDeviceService(
    IToDeviceStore store,
    StreamPositions streams,
    SyncNotifier notifier,
    HomeserverConfig config,
    E2eeOptions options,
    TimeProvider time,
    ILogger<ToDeviceService> logger,
    IRemoteToDeviceSender? remote = null)
{
    /// <summary>The device ID meaning "every device of the user".</summary>
    public const string AllDevices = "*";

    /// <summary><c>PUT /sendToDevice/{eventType}/{txnId}</c>: validates and delivers the messages; a repeated transaction does nothing.</summary>
    public async Task SendAsync(Requester sender, string eventType, string txnId, JsonElement body, CancellationToken ct)
    {
        if (!body.TryGetProperty("messages", out var messages) || messages.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam("Missing 'messages'");
        }

        if (messages.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("messages must be an object");
        }

        await DeliverAsync(sender.UserId, sender.DeviceId, txnId, eventType, messages, fromFederation: false, ct);
    }

    /// <summary>
    /// An <c>m.direct_to_device</c> EDU from <paramref name="origin"/> (server-server API "Send-to-device messaging"),
    /// for federation to call: the sender must belong to the origin; messages for users of other servers are ignored;
    /// a <c>message_id</c> already received from that sender is not delivered again. False when the EDU was refused.
    /// </summary>
    public async Task<bool> ReceiveFromServerAsync(string origin, JsonElement content, CancellationToken ct)
    {
        if (content.ValueKind != JsonValueKind.Object
            || Text(content, "sender") is not { } sender || MatrixId.ServerOf(sender) != origin || !MatrixId.IsValidUserId(sender)
            || Text(content, "type") is not { Length: > 0 } eventType
            || Text(content, "message_id") is not { Length: > 0 } messageId
            || !content.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        try
        {
            await DeliverAsync(sender, FederationDevice, messageId, eventType, messages, fromFederation: true, ct);
            return true;
        }
        catch (MatrixException)
        {
            return false; // malformed messages: the EDU is dropped, as a server drops a bad EDU
        }
    }

    private static string? Text(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>The sender "device" under which message IDs of remote senders are remembered (no local device has an empty ID).</summary>
    private const string FederationDevice = "";

    private async Task DeliverAsync(string senderUserId, string senderDeviceId, string txnId, string eventType, JsonElement messages, bool fromFederation, CancellationToken ct)
    {
        var local = new Dictionary<string, Dictionary<string, JsonElement>>(StringComparer.Ordinal);
        var remoteByServer = new Dictionary<string, Dictionary<string, IReadOnlyDictionary<string, JsonElement>>>(StringComparer.Ordinal);
        foreach (var user in messages.EnumerateObject())
        {
            if (!MatrixId.IsValidUserId(user.Name))
            {
                throw MatrixException.InvalidParam($"Invalid user ID {user.Name}");
            }

            if (user.Value.ValueKind != JsonValueKind.Object)
            {
                throw MatrixException.BadJson("messages must map user IDs to device IDs to message content");
            }

            var perDevice = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var device in user.Value.EnumerateObject())
            {
                if (device.Value.ValueKind != JsonValueKind.Object)
                {
                    throw MatrixException.BadJson("Each message content must be an object");
                }

                _ = E2eeJson.ToCanonicalText(device.Value); // refuses what has no canonical form (floats, huge integers), wherever it goes
                perDevice[device.Name] = device.Value;
            }

            var server = MatrixId.ServerOf(user.Name)!;
            if (server == config.ServerName)
            {
                local[user.Name] = perDevice;
            }
            else if (!fromFederation)
            {
                if (!remoteByServer.TryGetValue(server, out var forServer))
                {
                    remoteByServer[server] = forServer = new Dictionary<string, IReadOnlyDictionary<string, JsonElement>>(StringComparer.Ordinal);
                }

                forServer[user.Name] = perDevice;
            }
        }

        // Local recipients: "*" is every device the user has; messages to unknown devices are dropped (as Synapse).
        var rows = new List<ToDeviceMessage>();
        if (local.Count > 0)
        {
            var known = await store.GetDeviceIdsAsync(local.Keys, ct);
            foreach (var (userId, perDevice) in local)
            {
                var devices = known.GetValueOrDefault(userId) ?? [];
                if (perDevice.TryGetValue(AllDevices, out var toAll))
                {
                    rows.AddRange(devices.Select(d => new ToDeviceMessage(userId, d, senderUserId, eventType, E2eeJson.ToCanonicalText(toAll))));
                    continue;
                }

                foreach (var (deviceId, content) in perDevice)
                {
                    if (devices.Contains(deviceId))
                    {
                        rows.Add(new ToDeviceMessage(userId, deviceId, senderUserId, eventType, E2eeJson.ToCanonicalText(content)));
                    }
                }
            }
        }

        ToDeviceAddResult added;
        long position;
        using (var reservation = streams.Reserve())
        {
            added = await store.AddAsync(senderUserId, senderDeviceId, txnId, reservation.First, rows, options.MaxPendingToDevicePerDevice, time.GetUtcNow().ToUnixTimeMilliseconds(), ct);
            position = reservation.First;
        }

        if (added.Duplicate)
        {
            return;
        }

        if (added.Dropped > 0)
        {
            LogDropped(added.Dropped, options.MaxPendingToDevicePerDevice);
        }

        notifier.Notify(rows.Select(r => r.UserId).Distinct(StringComparer.Ordinal).ToList(), position);

        foreach (var (server, perUser) in remoteByServer)
        {
            if (remote is null)
            {
                LogNoFederation(server);
                continue;
            }

            var messageId = UnpaddedBase64.EncodeUrlSafe(RandomNumberGenerator.GetBytes(12));
            await remote.SendAsync(server, senderUserId, eventType, messageId, perUser, CancellationToken.None);
        }
    }

    /// <summary>
    /// For /sync: acknowledges what the answer at <paramref name="since"/> delivered, then takes the next messages
    /// (remembered as delivered by the answer at <paramref name="upTo"/>).
    /// </summary>
    public Task<IReadOnlyList<PendingToDevice>> TakeForSyncAsync(string userId, string deviceId, long? since, long upTo, CancellationToken ct) =>
        store.TakeForSyncAsync(userId, deviceId, since, upTo, options.ToDeviceSyncLimit, ct);

    /// <summary>
    /// For the sliding sync <c>to_device</c> extension (MSC3885): <paramref name="since"/> (the <c>next_batch</c> of an
    /// earlier answer, a stream position) acknowledges every message at or below it, which are deleted; then up to
    /// <paramref name="limit"/> messages above it and at most <paramref name="upTo"/>, oldest first. The next batch is
    /// <paramref name="upTo"/> when they are all, else the position of the last one given.
    /// <para>
    /// Acknowledging by position rather than by answer (as <see cref="TakeForSyncAsync"/> does for /sync) keeps a retried
    /// request safe even when the stream has not moved between two answers: a <c>since</c> only ever covers messages
    /// its answer (or an earlier one) gave out. A <paramref name="since"/> above <paramref name="upTo"/> (a token from
    /// a reset database) acknowledges nothing and delivers from the start.
    /// </para>
    /// </summary>
    public async Task<ToDeviceBatch> TakeForSlidingSyncAsync(string userId, string deviceId, long? since, int limit, long upTo, CancellationToken ct)
    {
        var after = since is { } s && s <= upTo ? s : 0;
        if (after > 0)
        {
            await store.DeleteUpToAsync(userId, deviceId, after, ct);
        }

        var limited = Math.Clamp(limit, 0, options.ToDeviceSyncLimit);
        var events = upTo > after ? await store.GetAfterAsync(userId, deviceId, after, upTo, limited + 1, ct) : [];
        if (events.Count <= limited)
        {
            return new ToDeviceBatch(events, Math.Max(upTo, after));
        }

        var page = events.Take(limited).ToList();
        return new ToDeviceBatch(page, page.Count > 0 ? page[^1].StreamId : after);
    }

    /// <summary>
    /// The messages waiting for a dehydrated device (MSC3814), after the token <paramref name="from"/> (<c>d&lt;position&gt;</c>);
    /// the messages up to that token are deleted (acknowledged). <see cref="DehydratedDeviceEvents.NextBatch"/> is set
    /// when there may be more (<paramref name="alwaysNextBatch"/>: always, as the older POST form answered).
    /// </summary>
    public async Task<DehydratedDeviceEvents> GetForDehydratedDeviceAsync(string userId, string deviceId, string? from, int limit, bool alwaysNextBatch, CancellationToken ct)
    {
        long after = 0;
        if (!string.IsNullOrEmpty(from))
        {
            if (from[0] != 'd' || !long.TryParse(from.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out after))
            {
                throw MatrixException.InvalidParam($"from parameter '{from}' has an invalid format");
            }

            await store.DeleteUpToAsync(userId, deviceId, after, ct);
        }

        var upTo = streams.Current;
        var events = await store.GetAfterAsync(userId, deviceId, after, upTo, limit + 1, ct);
        var more = events.Count > limit;
        var page = events.Take(limit).ToList();
        var last = page.Count > 0 ? page[^1].StreamId : Math.Max(after, 0);
        string? next = more || alwaysNextBatch ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"d{(more ? last : Math.Max(last, upTo))}") : null;
        return new DehydratedDeviceEvents(page, next);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped {Count} pending to-device messages: a device had more than {Cap} waiting")]
    private partial void LogDropped(int count, int cap);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped to-device messages for users on {Server}: federation sending is not available")]
    private partial void LogNoFederation(string server);
}
