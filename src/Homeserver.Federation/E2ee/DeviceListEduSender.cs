using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Federation;
using Homeserver.E2ee;
using Homeserver.E2ee.DeviceLists;
using Homeserver.E2ee.Keys;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation.E2ee;

/// <summary>
/// Tells other servers about our users' device lists (server-server API "Device Management"): after every committed
/// change, an <c>m.device_list_update</c> per changed device and, when the master or self-signing key changed, an
/// <c>m.signing_key_update</c>, to every server with a user joined to a room the user is joined to. They are stored
/// before they are sent (<see cref="IEduSender.SendPersistentAsync"/>), in the order the changes were made.
///
/// <c>stream_id</c> is the change's stream position and <c>prev_id</c> the user's previous public change (what
/// <c>GET /user/devices</c> reports as <c>stream_id</c>): a server that missed one sees a <c>prev_id</c> it does not
/// know and fetches the whole list again. A cross-signing change is in that chain too, so the first device update after
/// it makes receivers refetch (they cannot tell it apart from a missed update): a refetch too many, never one too few.
///
/// Also forgets the cached device lists of remote users who no longer share a room with one of ours (their servers
/// stop telling us about their changes, so the cache would go stale unnoticed).
/// </summary>
public sealed partial class DeviceListEduSender(
    IServiceProvider services,
    IRemoteDeviceListStore store,
    IEduSender edus,
    HomeserverConfig config,
    ILogger<DeviceListEduSender> logger) : BackgroundService, IDeviceListListener, IRoomEventListener
{
    private sealed record Untrack(IReadOnlyCollection<string> UserIds);

    private readonly Channel<object> _work = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });

    public void OnDeviceListChanged(DeviceListUpdate update) => _work.Writer.TryWrite(update);

    public void OnPersisted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head)
    {
        HashSet<string>? candidates = null;
        foreach (var e in events)
        {
            if (e.SoftFailed || e.Event.Type != EventTypes.Member || e.Event.StateKey is not { } target || e.Event.Membership == Membership.Join)
            {
                continue;
            }

            candidates ??= new HashSet<string>(StringComparer.Ordinal);
            if (MatrixId.ServerOf(target) != config.ServerName)
            {
                candidates.Add(target);
            }
            else
            {
                // One of ours left: every remote member of the room may now share no room with any of ours.
                foreach (var key in head.State.Keys)
                {
                    if (key.Type == EventTypes.Member && MatrixId.ServerOf(key.Key) is { } server && server != config.ServerName)
                    {
                        candidates.Add(key.Key);
                    }
                }
            }
        }

        if (candidates is { Count: > 0 })
        {
            _work.Writer.TryWrite(new Untrack(candidates));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var item in _work.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    switch (item)
                    {
                        case DeviceListUpdate update:
                            await SendAsync(update, stoppingToken);
                            break;
                        case Untrack untrack:
                            var forgotten = await store.ForgetUntrackedAsync(untrack.UserIds, config.ServerName, stoppingToken);
                            if (forgotten.Count > 0)
                            {
                                LogForgotten(forgotten.Count);
                            }

                            break;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    LogFailed(e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down. Changes not sent yet are found by the receivers' prev_id checks at the next change.
        }
    }

    private async Task SendAsync(DeviceListUpdate update, CancellationToken ct)
    {
        var servers = await store.GetServersSharingRoomAsync(update.UserId, config.ServerName, ct);
        if (servers.Count == 0)
        {
            return;
        }

        var keys = services.GetRequiredService<E2eeKeyService>();
        var deviceLists = services.GetRequiredService<DeviceListService>();
        if (update.DeviceIds.Count > 0)
        {
            var prev = await deviceLists.GetVersionBeforeAsync(update.UserId, update.StreamId, ct);
            JsonObject? current = null;
            if (!update.Deleted)
            {
                current = await keys.QueryForServerAsync(Query(update.UserId, update.DeviceIds), ct);
            }

            foreach (var deviceId in update.DeviceIds)
            {
                var content = new JsonObject
                {
                    ["user_id"] = update.UserId,
                    ["device_id"] = deviceId,
                    ["stream_id"] = update.StreamId,
                    ["prev_id"] = prev > 0 ? new JsonArray(prev) : new JsonArray(),
                };
                if (update.Deleted)
                {
                    content["deleted"] = true;
                }
                else if (current?["device_keys"]?[update.UserId]?[deviceId] is JsonObject deviceKeys)
                {
                    var copy = deviceKeys.DeepClone().AsObject();
                    if (copy["unsigned"]?["device_display_name"] is JsonValue name)
                    {
                        content["device_display_name"] = name.DeepClone();
                    }

                    copy.Remove("unsigned");
                    content["keys"] = copy;
                }

                await edus.SendPersistentAsync(servers, "m.device_list_update", JsonSerializer.SerializeToElement(content), ct);
            }
        }

        if (update.CrossSigningChanged)
        {
            var current = await keys.QueryForServerAsync(Query(update.UserId, []), ct);
            var content = new JsonObject { ["user_id"] = update.UserId };
            if (current["master_keys"]?[update.UserId] is JsonObject master)
            {
                content["master_key"] = master.DeepClone();
            }

            if (current["self_signing_keys"]?[update.UserId] is JsonObject selfSigning)
            {
                content["self_signing_key"] = selfSigning.DeepClone();
            }

            if (content.Count > 1)
            {
                await edus.SendPersistentAsync(servers, "m.signing_key_update", JsonSerializer.SerializeToElement(content), ct);
            }
        }

        LogSent(update.UserId, update.StreamId, servers.Count);
    }

    private static JsonElement Query(string userId, IReadOnlyList<string> deviceIds) =>
        JsonSerializer.SerializeToElement(new JsonObject
        {
            ["device_keys"] = new JsonObject { [userId] = new JsonArray([.. deviceIds.Select(d => (JsonNode)JsonValue.Create(d))]) },
        });

    [LoggerMessage(Level = LogLevel.Debug, Message = "Device list change of {UserId} at {StreamId} queued for {Servers} servers")]
    private partial void LogSent(string userId, long streamId, int servers);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Forgot the cached device lists of {Count} remote users who share no room with ours any more")]
    private partial void LogForgotten(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Telling other servers about a device list change failed")]
    private partial void LogFailed(Exception e);
}

/// <summary>
/// Send-to-device messages for users of another server, as one <c>m.direct_to_device</c> EDU per request and server
/// (server-server API "Send-to-device messaging"), stored before it is sent so that it survives a restart or an outage.
/// </summary>
public sealed class RemoteToDeviceSender(IEduSender edus) : IRemoteToDeviceSender
{
    public Task SendAsync(string serverName, string sender, string eventType, string messageId, IReadOnlyDictionary<string, IReadOnlyDictionary<string, JsonElement>> messages, CancellationToken ct)
    {
        var perUser = new JsonObject();
        foreach (var (userId, perDevice) in messages)
        {
            var devices = new JsonObject();
            foreach (var (deviceId, content) in perDevice)
            {
                devices[deviceId] = JsonNode.Parse(content.GetRawText());
            }

            perUser[userId] = devices;
        }

        var edu = new JsonObject { ["sender"] = sender, ["type"] = eventType, ["message_id"] = messageId, ["messages"] = perUser };
        return edus.SendPersistentAsync([serverName], "m.direct_to_device", JsonSerializer.SerializeToElement(edu), ct);
    }
}
