using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core.Configuration;
using Homeserver.Push.Notifications;
using Homeserver.Push.Rules;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;
using Microsoft.Extensions.Logging;

namespace Homeserver.Push.Pushers;

/// <summary>
/// Sends each HTTP pusher its user's notifications, in order, to the push gateway (the push gateway API).
///
/// The queue is persisted: it is the user's unread rows of <c>notifications</c> after the pusher's
/// <c>last_stream_ordering</c>, which moves only once the gateway accepted a notification. Nothing is lost across a
/// restart: <see cref="RunAsync"/> starts by catching up every pusher. When a gateway fails (after the client's own
/// short retries) the pusher backs off, from 1 s doubling to 1 h, and gives a notification up after a day of failures
/// (as Synapse does, so that a fixed gateway does not receive a flood of stale notifications). Pushkeys the gateway
/// reports as <c>rejected</c> have their pusher removed. Read receipts send badge-only updates.
/// </summary>
public sealed partial class PushDelivery : IDisposable
{
    public static readonly TimeSpan InitialBackoff = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromHours(1);
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromDays(1);

    /// <summary>Notifications older than this are forgotten (GET /notifications shows the last month).</summary>
    public static readonly TimeSpan NotificationRetention = TimeSpan.FromDays(30);

    private const int BatchSize = 20;

    private readonly IPusherStore _pushers;
    private readonly INotificationStore _notifications;
    private readonly IRoomReadStore _reads;
    private readonly RoomService _rooms;
    private readonly PushGatewayClient _client;
    private readonly PushConfig _config;
    private readonly TimeProvider _time;
    private readonly ILogger<PushDelivery> _logger;
    private readonly PushDeliveryQueue _queue;
    private readonly ConcurrentDictionary<long, PusherState> _states = new();

    public PushDelivery(
        PushDeliveryQueue queue,
        IPusherStore pushers,
        INotificationStore notifications,
        IRoomReadStore reads,
        RoomService rooms,
        PushGatewayClient client,
        HomeserverConfig config,
        TimeProvider time,
        ILogger<PushDelivery> logger)
    {
        _queue = queue;
        _pushers = pushers;
        _notifications = notifications;
        _reads = reads;
        _rooms = rooms;
        _client = client;
        _config = config.Push;
        _time = time;
        _logger = logger;
    }

    private sealed class PusherState
    {
        public TimeSpan Backoff { get; set; } = InitialBackoff;

        public DateTimeOffset NextAttempt { get; set; } = DateTimeOffset.MinValue;

        public long? LastBadge { get; set; }
    }

    /// <summary>The delivery loop (run by a hosted service): catches up every pusher, then follows pokes and retry timers.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            _queue.Poke((await _pushers.GetAllAsync(ct)).Select(p => p.UserId).Distinct(StringComparer.Ordinal).ToList());
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogCatchUpFailed(e);
        }

        var nextPrune = _time.GetUtcNow();
        while (!ct.IsCancellationRequested)
        {
            if (_time.GetUtcNow() >= nextPrune)
            {
                nextPrune = _time.GetUtcNow() + TimeSpan.FromHours(1);
                try
                {
                    await _notifications.PruneAsync((_time.GetUtcNow() - NotificationRetention).ToUnixTimeMilliseconds(), ct);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogRoundFailed(e);
                }
            }

            var (users, badges) = _queue.Take();

            try
            {
                // One query for the pushers of everyone poked (most users have none), not one per user.
                var pushers = users.Count == 0 ? [] : await _pushers.GetForUsersAsync(users, ct);
                await Parallel.ForEachAsync(
                    pushers.GroupBy(p => p.UserId, StringComparer.Ordinal),
                    new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct },
                    async (userPushers, token) => await ProcessUserAsync(userPushers, token));
                foreach (var user in badges)
                {
                    await SendBadgesAsync(user, ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogRoundFailed(e);
            }

            var wait = TimeSpan.FromMinutes(1);
            var now = _time.GetUtcNow();
            foreach (var state in _states.Values)
            {
                // A retry that fell due while this round ran (a slow round on a busy machine) is taken at once,
                // not a minute later.
                if (state.NextAttempt != DateTimeOffset.MinValue && state.NextAttempt - now < wait)
                {
                    wait = state.NextAttempt <= now ? TimeSpan.Zero : state.NextAttempt - now;
                }
            }

            try
            {
                await _queue.WaitAsync(wait, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            // Retry timers that fell due: those users' pushers are looked at again.
            now = _time.GetUtcNow();
            if (_states.Values.Any(s => s.NextAttempt != DateTimeOffset.MinValue && s.NextAttempt <= now))
            {
                var all = await _pushers.GetAllAsync(ct);
                _queue.Poke(all.Where(p => _states.TryGetValue(p.Id, out var s) && s.NextAttempt != DateTimeOffset.MinValue && s.NextAttempt <= now)
                    .Select(p => p.UserId).Distinct(StringComparer.Ordinal).ToList());

                // The retry state of a pusher removed since is dropped, so that it is never due again.
                var existing = all.Select(p => p.Id).ToHashSet();
                foreach (var id in _states.Keys.Where(id => !existing.Contains(id)).ToList())
                {
                    _states.TryRemove(id, out _);
                }
            }
        }
    }

    private async Task ProcessUserAsync(IEnumerable<Pusher> userPushers, CancellationToken ct)
    {
        foreach (var pusher in userPushers)
        {
            var state = _states.GetOrAdd(pusher.Id, _ => new PusherState());
            if (state.NextAttempt > _time.GetUtcNow())
            {
                continue;
            }

            state.NextAttempt = DateTimeOffset.MinValue;
            await ProcessPusherAsync(pusher, state, ct);
        }
    }

    private async Task ProcessPusherAsync(Pusher pusher, PusherState state, CancellationToken ct)
    {
        var cursor = pusher.LastStreamOrdering;
        var failingSince = pusher.FailingSince;
        while (true)
        {
            var rows = await _notifications.GetUnreadAfterAsync(pusher.UserId, cursor, BatchSize, ct);
            if (rows.Count == 0)
            {
                return;
            }

            foreach (var row in rows)
            {
                var result = await SendNotificationAsync(pusher, row, ct);
                var now = _time.GetUtcNow();
                if (result.Delivered)
                {
                    cursor = row.StreamOrdering;
                    state.Backoff = InitialBackoff;
                    failingSince = null;
                    if (!await _pushers.UpdateProgressAsync(pusher.Id, cursor, now.ToUnixTimeMilliseconds(), null, ct))
                    {
                        _states.TryRemove(pusher.Id, out _);
                        return;
                    }

                    if (result.Rejected.Contains(pusher.Pushkey, StringComparer.Ordinal))
                    {
                        LogRejected(pusher.AppId, pusher.UserId);
                        await _pushers.DeleteAsync(pusher.UserId, pusher.AppId, pusher.Pushkey, ct);
                        _states.TryRemove(pusher.Id, out _);
                        return;
                    }

                    continue;
                }

                if (failingSince is null)
                {
                    failingSince = now.ToUnixTimeMilliseconds();
                    await _pushers.SetFailingSinceAsync(pusher.Id, failingSince, ct);
                }

                if (now.ToUnixTimeMilliseconds() - failingSince.Value > (long)GiveUpAfter.TotalMilliseconds)
                {
                    // Give this notification up, so that a gateway fixed later does not get a flood of stale ones.
                    LogGivingUp(pusher.AppId, pusher.UserId, row.EventId);
                    cursor = row.StreamOrdering;
                    failingSince = null;
                    state.Backoff = InitialBackoff;
                    await _pushers.UpdateProgressAsync(pusher.Id, cursor, null, null, ct);
                    continue;
                }

                LogDeliveryFailed(pusher.AppId, pusher.UserId, result.Failure ?? "unknown", state.Backoff.TotalSeconds);
                state.NextAttempt = now + state.Backoff;
                state.Backoff = TimeSpan.FromTicks(Math.Min(state.Backoff.Ticks * 2, MaxBackoff.Ticks));
                return;
            }
        }
    }

    private async Task<GatewayResult> SendNotificationAsync(Pusher pusher, NotificationRow row, CancellationToken ct)
    {
        var stored = (await _reads.GetStoredEventsAsync([row.EventId], ct)).FirstOrDefault();
        if (stored is null || stored.RedactedBy is not null)
        {
            // Redacted (or gone): nothing to announce.
            return new GatewayResult(true, []);
        }

        var actions = PushActions.Parse(JsonNode.Parse(row.ActionsJson)?.AsArray() ?? []);
        if (!actions.Notify)
        {
            return new GatewayResult(true, []);
        }

        var badge = await _notifications.GetBadgeCountAsync(pusher.UserId, _config.GroupUnreadCountByRoom, ct);
        var (url, data) = ParseData(pusher);
        var pdu = stored.Event;
        var tweaks = actions.Tweaks;
        var highPriority = pdu.Type == "m.room.encrypted" || actions.Highlight || tweaks.ContainsKey("sound");
        var notification = new JsonObject();
        var idOnly = data.TryGetPropertyValue("format", out var format) && format is JsonValue fv && fv.TryGetValue<string>(out var f) && f == "event_id_only";
        if (idOnly)
        {
            notification["event_id"] = pdu.EventId;
            notification["room_id"] = pdu.RoomId;
            notification["prio"] = highPriority ? "high" : "low";
            notification["counts"] = new JsonObject { ["unread"] = badge };
        }
        else
        {
            notification["id"] = pdu.EventId;
            notification["event_id"] = pdu.EventId;
            notification["room_id"] = pdu.RoomId;
            notification["type"] = pdu.Type;
            notification["sender"] = pdu.Sender;
            notification["prio"] = highPriority ? "high" : "low";
            notification["counts"] = new JsonObject { ["unread"] = badge };
            if (pdu.Type == EventTypes.Member && pdu.StateKey is not null)
            {
                notification["membership"] = pdu.Membership;
                notification["user_is_target"] = pdu.StateKey == pusher.UserId;
            }

            if (_config.IncludeContent && pdu.Content.ValueKind == JsonValueKind.Object && pdu.Content.EnumerateObject().Any())
            {
                notification["content"] = JsonNode.Parse(pdu.Content.GetRawText());
            }

            var (senderName, roomName) = await TryDescribeAsync(pdu, ct);
            if (!string.IsNullOrEmpty(senderName))
            {
                notification["sender_display_name"] = senderName;
            }

            if (!string.IsNullOrEmpty(roomName))
            {
                notification["room_name"] = roomName;
            }
        }

        var device = Device(pusher, data);
        device["tweaks"] = idOnly ? new JsonObject() : tweaks.DeepClone();
        notification["devices"] = new JsonArray(device);
        var body = JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["notification"] = notification });
        return await _client.SendAsync(url, body, ct);
    }

    private async Task SendBadgesAsync(string userId, CancellationToken ct)
    {
        var pushers = await _pushers.GetForUserAsync(userId, ct);
        if (pushers.Count == 0)
        {
            return;
        }

        var badge = await _notifications.GetBadgeCountAsync(userId, _config.GroupUnreadCountByRoom, ct);
        foreach (var pusher in pushers)
        {
            var state = _states.GetOrAdd(pusher.Id, _ => new PusherState());
            if (state.LastBadge == badge || state.NextAttempt > _time.GetUtcNow())
            {
                continue;
            }

            var (url, data) = ParseData(pusher);
            var notification = new JsonObject
            {
                ["id"] = string.Empty,
                ["type"] = null,
                ["sender"] = string.Empty,
                ["counts"] = new JsonObject { ["unread"] = badge },
                ["devices"] = new JsonArray(Device(pusher, data)),
            };
            var result = await _client.SendAsync(url, JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["notification"] = notification }), ct);
            if (result.Delivered)
            {
                state.LastBadge = badge;
            }
        }
    }

    private static (Uri Url, JsonObject DataWithoutUrl) ParseData(Pusher pusher)
    {
        var data = JsonNode.Parse(pusher.DataJson)?.AsObject() ?? [];
        var url = new Uri(data["url"]!.GetValue<string>());
        data.Remove("url");
        return (url, data);
    }

    private static JsonObject Device(Pusher pusher, JsonObject dataWithoutUrl) => new()
    {
        ["app_id"] = pusher.AppId,
        ["pushkey"] = pusher.Pushkey,
        ["pushkey_ts"] = pusher.PushkeyTs / 1000,
        ["data"] = dataWithoutUrl.DeepClone(),
    };

    /// <summary>Names are a courtesy to the gateway: failing to read them must not hold the notification back.</summary>
    private async Task<(string? Sender, string? Room)> TryDescribeAsync(Pdu pdu, CancellationToken ct)
    {
        try
        {
            return await DescribeAsync(pdu, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogNamesFailed(e, pdu.RoomId);
            return (null, null);
        }
    }

    /// <summary>The sender's display name in the room and the room's name (or canonical alias), for the gateway to show.</summary>
    private async Task<(string? Sender, string? Room)> DescribeAsync(Pdu pdu, CancellationToken ct)
    {
        var room = await _rooms.FindRoomAsync(pdu.RoomId, ct);
        if (room is null)
        {
            return (null, null);
        }

        var member = await _rooms.GetCurrentStateEventAsync(room, new StateKey(EventTypes.Member, pdu.Sender), ct);
        var name = await _rooms.GetCurrentStateEventAsync(room, new StateKey("m.room.name", string.Empty), ct);
        var roomName = StringField(name, "name");
        if (string.IsNullOrEmpty(roomName))
        {
            roomName = StringField(await _rooms.GetCurrentStateEventAsync(room, new StateKey("m.room.canonical_alias", string.Empty), ct), "alias");
        }

        return (StringField(member, "displayname"), roomName);
    }

    private static string? StringField(Pdu? pdu, string name) =>
        pdu is not null && pdu.Content.ValueKind == JsonValueKind.Object && pdu.Content.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()
            : null;

    public void Dispose() => _client.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Push to {AppId} for {UserId} failed ({Reason}); retrying in {Seconds} s")]
    private partial void LogDeliveryFailed(string appId, string userId, string reason, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Giving up a notification of {EventId} to {AppId} for {UserId} after a day of failures")]
    private partial void LogGivingUp(string appId, string userId, string eventId);

    [LoggerMessage(Level = LogLevel.Information, Message = "The gateway of {AppId} rejected the pushkey of {UserId}: removing the pusher")]
    private partial void LogRejected(string appId, string userId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Catching up pushers at start-up failed")]
    private partial void LogCatchUpFailed(Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read the sender and room names of an event in {RoomId} for a push")]
    private partial void LogNamesFailed(Exception e, string roomId);

    [LoggerMessage(Level = LogLevel.Error, Message = "A push delivery round failed")]
    private partial void LogRoundFailed(Exception e);
}
