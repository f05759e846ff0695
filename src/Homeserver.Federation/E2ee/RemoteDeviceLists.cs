using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Homeserver.Core.Configuration;
using Homeserver.Core.Federation;
using Homeserver.E2ee;
using Homeserver.E2ee.CrossSigning;
using Homeserver.E2ee.DeviceLists;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation.E2ee;

/// <summary>
/// Other servers' news about their users' devices (server-server API "Device Management"):
/// <c>m.device_list_update</c> and <c>m.signing_key_update</c> EDUs. Believed only from the user's own server and only
/// about users who share a room with one of ours (as Synapse: nobody else may care, and we would not hear of later
/// changes). Each one updates the cache of remote device lists (an update that does not follow the cached version
/// marks it stale, to be fetched again) and becomes a device list change, so that our users sharing a room with the
/// remote user see them in <c>/sync</c> <c>device_lists.changed</c> and <c>/keys/changes</c>. An update that cannot be
/// applied (nothing cached, or one was missed) makes us fetch the whole list from the user's server at once, in the
/// background: the transaction that carried the update is answered first, because its sender may not send us another
/// one before that answer (server-server API "Transactions"), and the fetch is a request back to that same server.
/// </summary>
public sealed partial class RemoteDeviceLists(
    IRemoteDeviceListStore cache,
    ICrossSigningStore crossSigning,
    DeviceListService deviceLists,
    RemoteKeyClient keyClient,
    HomeserverConfig config,
    E2eeOptions options,
    TimeProvider time,
    ILogger<RemoteDeviceLists> logger) : BackgroundService
{
    /// <summary>Device lists fetched at the same time (one slow or unreachable server must not hold up the others).</summary>
    private const int MaxConcurrentResyncs = 4;

    /// <summary>A remote user whose whole device list is to be fetched from <see cref="Origin"/>, their server.</summary>
    private sealed record QueuedResync(string Origin, string UserId);

    private readonly Channel<QueuedResync> _resyncs = Channel.CreateUnbounded<QueuedResync>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Users queued and not started yet: more updates about them before their fetch starts need no fetch of their own.</summary>
    private readonly ConcurrentDictionary<string, byte> _queued = new(StringComparer.Ordinal);

    /// <summary>An <c>m.device_list_update</c> EDU from <paramref name="origin"/>.</summary>
    public async Task OnDeviceListUpdateAsync(string origin, JsonElement content, CancellationToken ct)
    {
        if (origin == config.ServerName || RemoteKeyParser.DeviceListUpdate(content, origin, options.RequireSelfSignedKeys) is not { } edu)
        {
            LogRefused("m.device_list_update", origin);
            return;
        }

        if (!await IsTrackedAsync(edu.UserId, ct))
        {
            LogNotTracked("m.device_list_update", edu.UserId);
            return;
        }

        // Keys that do not verify are not believed: the list goes stale and is fetched (and verified) again.
        var outcome = await cache.ApplyUpdateAsync(
            edu.UserId,
            edu.StreamId,
            edu.KeysRejected ? [] : edu.PrevIds,
            new CachedRemoteDevice(edu.DeviceId, edu.KeyJson, edu.DisplayName),
            edu.Deleted,
            time.GetUtcNow().ToUnixTimeMilliseconds(),
            ct);
        LogDeviceListUpdate(edu.UserId, edu.DeviceId, edu.StreamId, outcome);
        if (outcome == RemoteDeviceUpdateOutcome.Applied)
        {
            await deviceLists.DevicesChangedAsync(edu.UserId, [edu.DeviceId], ct);
            return;
        }

        // Nothing cached yet, or an update went missing (the list is marked stale, so a query meanwhile fetches it
        // itself): fetch the whole list now rather than at the next query, as Synapse does, but after answering the
        // transaction (see the class summary).
        if (_queued.TryAdd(edu.UserId, 0))
        {
            _resyncs.Writer.TryWrite(new QueuedResync(origin, edu.UserId));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = MaxConcurrentResyncs, CancellationToken = stoppingToken };
        try
        {
            await Parallel.ForEachAsync(_resyncs.Reader.ReadAllAsync(stoppingToken), parallel, FetchQueuedAsync);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down. Lists not fetched yet stay marked stale: the next query of one fetches it.
        }
    }

    /// <summary>
    /// Fetches a queued user's list and announces the change once, after the fetch (the fetch announces it when it
    /// replaced the cache), so that what our users are told to re-query is already current. A failed fetch leaves the
    /// list stale (fetched at the next query) and the change is announced all the same.
    /// </summary>
    private async ValueTask FetchQueuedAsync(QueuedResync resync, CancellationToken ct)
    {
        // Removed before the fetch starts: an update arriving during the fetch may be newer than its answer, so it
        // queues a fetch of its own (the cache keeps the newer of two answers).
        _queued.TryRemove(resync.UserId, out _);
        try
        {
            if (await keyClient.ResyncAsync(resync.Origin, resync.UserId, ct) is null)
            {
                await deviceLists.DevicesChangedAsync(resync.UserId, [], ct);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            LogResyncFailed(e, resync.UserId);
        }
    }

    /// <summary>An <c>m.signing_key_update</c> EDU from <paramref name="origin"/>.</summary>
    public async Task OnSigningKeyUpdateAsync(string origin, JsonElement content, CancellationToken ct)
    {
        if (origin == config.ServerName || RemoteKeyParser.SigningKeyUpdateUser(content, origin) is not { } userId)
        {
            LogRefused("m.signing_key_update", origin);
            return;
        }

        if (!await IsTrackedAsync(userId, ct))
        {
            LogNotTracked("m.signing_key_update", userId);
            return;
        }

        JsonElement? Field(string name) => content.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object ? v : null;
        var master = Field("master_key");
        var selfSigning = Field("self_signing_key");
        CachedCrossSigningKey? knownMaster = null;
        if (master is null && selfSigning is not null)
        {
            var stored = (await crossSigning.GetKeysAsync([userId], ct)).FirstOrDefault(k => k.KeyType == CrossSigningKeyTypes.Master);
            knownMaster = stored is null ? null : new CachedCrossSigningKey(stored.KeyType, stored.PublicKey, stored.KeyJson);
        }

        var keys = RemoteKeyParser.CrossSigningKeys(master, selfSigning, userId, knownMaster);
        var expected = (master is null ? 0 : 1) + (selfSigning is null ? 0 : 1);
        if (keys.Count != expected || expected == 0)
        {
            LogRefused("m.signing_key_update", origin);
            return;
        }

        await cache.UpdateCrossSigningKeysAsync(userId, keys, ct);
        await deviceLists.DevicesChangedAsync(userId, [], ct);
    }

    private async Task<bool> IsTrackedAsync(string userId, CancellationToken ct) =>
        (await cache.GetUsersSharingRoomWithLocalUsersAsync([userId], config.ServerName, ct)).Count > 0;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused an {EduType} EDU from {Origin}: malformed, not verifiable, or about another server's user")]
    private partial void LogRefused(string eduType, string origin);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ignored an {EduType} EDU about {UserId}, who shares no room with our users")]
    private partial void LogNotTracked(string eduType, string userId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Fetching the device list of {UserId} after an update failed")]
    private partial void LogResyncFailed(Exception e, string userId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Device list update of {UserId}/{DeviceId} at {StreamId}: {Outcome}")]
    private partial void LogDeviceListUpdate(string userId, string deviceId, long streamId, RemoteDeviceUpdateOutcome outcome);
}
