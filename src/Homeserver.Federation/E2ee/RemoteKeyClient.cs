using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Federation;
using Homeserver.E2ee;
using Homeserver.E2ee.CrossSigning;
using Homeserver.Federation.Client;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation.E2ee;

/// <summary>
/// Key queries and claims for users of other servers (<see cref="IRemoteKeyClient"/>), over
/// <c>POST /_matrix/federation/v1/user/keys/query</c>, <c>/user/keys/claim</c> and <c>GET /user/devices/{userId}</c>.
///
/// Users who share a room with one of ours are answered from the cache of remote device lists, which
/// <c>m.device_list_update</c> EDUs keep current; a user not cached yet (or whose cache went stale because an update
/// was missed) is fetched with <c>/user/devices</c>, which gives the version later updates build on, and cached.
/// Other users are asked with <c>/user/keys/query</c> every time (nobody would tell us when their devices change).
/// Everything an answer holds is verified first (<see cref="RemoteKeyParser"/>).
/// </summary>
public sealed partial class RemoteKeyClient(
    IFederationClient client,
    IRemoteDeviceListStore cache,
    ICrossSigningStore crossSigning,
    IDeviceListNotifier deviceLists,
    HomeserverConfig config,
    E2eeOptions options,
    TimeProvider time,
    ILogger<RemoteKeyClient> logger) : IRemoteKeyClient
{
    /// <summary>Concurrent <c>/user/devices</c> requests to one server for one query.</summary>
    private const int MaxConcurrentResyncs = 4;

    public async Task<JsonObject> QueryKeysAsync(string serverName, IReadOnlyDictionary<string, IReadOnlyList<string>> deviceKeys, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        var result = new JsonObject { ["device_keys"] = new JsonObject(), ["master_keys"] = new JsonObject(), ["self_signing_keys"] = new JsonObject() };
        var users = deviceKeys.Where(u => MatrixId.ServerOf(u.Key) == serverName).ToDictionary(u => u.Key, u => u.Value, StringComparer.Ordinal);
        var tracked = await cache.GetUsersSharingRoomWithLocalUsersAsync(users.Keys, config.ServerName, ct);
        var fresh = await cache.GetFreshAsync(tracked, ct);
        var crossSigningKeys = fresh.Count == 0 ? [] : await crossSigning.GetKeysAsync(fresh.Select(f => f.UserId).ToList(), ct);
        foreach (var list in fresh)
        {
            AddList(result, list.UserId, list.Devices, crossSigningKeys.Where(k => k.UserId == list.UserId).Select(k => new CachedCrossSigningKey(k.KeyType, k.PublicKey, k.KeyJson)), users[list.UserId]);
        }

        var remaining = users.Keys.Except(fresh.Select(f => f.UserId), StringComparer.Ordinal).ToHashSet(StringComparer.Ordinal);
        var toFetch = tracked.Where(remaining.Contains).ToList();
        if (toFetch.Count > 0)
        {
            using var gate = new SemaphoreSlim(MaxConcurrentResyncs);
            var snapshots = await Task.WhenAll(toFetch.Select(async userId =>
            {
                await gate.WaitAsync(cts.Token);
                try
                {
                    return await ResyncAsync(serverName, userId, cts.Token);
                }
                finally
                {
                    gate.Release();
                }
            }));
            foreach (var snapshot in snapshots.OfType<RemoteDeviceSnapshot>())
            {
                AddList(result, snapshot.UserId, snapshot.Devices, snapshot.CrossSigningKeys, users[snapshot.UserId]);
                remaining.Remove(snapshot.UserId);
            }
        }

        if (remaining.Count == 0)
        {
            return result;
        }

        var asked = remaining.ToDictionary(u => u, u => users[u], StringComparer.Ordinal);
        var body = new JsonObject { ["device_keys"] = new JsonObject() };
        foreach (var (userId, devices) in asked)
        {
            body["device_keys"]![userId] = new JsonArray([.. devices.Select(d => (JsonNode)JsonValue.Create(d))]);
        }

        JsonElement answer;
        try
        {
            answer = await client.PostAsync(serverName, "/_matrix/federation/v1/user/keys/query", JsonSerializer.SerializeToElement(body), cts.Token, timeout);
        }
        catch (Exception e) when (e is FederationException or OperationCanceledException && !ct.IsCancellationRequested && result["device_keys"]!.AsObject().Count > 0)
        {
            // What came from the cache stands; the client hears that the server failed for the rest.
            result["failures"] = new JsonObject { [serverName] = new JsonObject { ["status"] = 503, ["message"] = e.Message } };
            return result;
        }

        var verified = RemoteKeyParser.QueryAnswer(answer, asked, options.RequireSelfSignedKeys);
        foreach (var section in new[] { "device_keys", "master_keys", "self_signing_keys" })
        {
            foreach (var (userId, value) in verified[section]!.AsObject().ToList())
            {
                verified[section]!.AsObject().Remove(userId);
                result[section]![userId] = value;
            }
        }

        return result;
    }

    public async Task<JsonObject> ClaimKeysAsync(string serverName, IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> oneTimeKeys, TimeSpan timeout, CancellationToken ct)
    {
        var asked = oneTimeKeys.Where(u => MatrixId.ServerOf(u.Key) == serverName).ToDictionary(u => u.Key, u => u.Value, StringComparer.Ordinal);
        var body = new JsonObject { ["one_time_keys"] = new JsonObject() };
        foreach (var (userId, devices) in asked)
        {
            var forUser = new JsonObject();
            foreach (var (deviceId, algorithm) in devices)
            {
                forUser[deviceId] = algorithm;
            }

            body["one_time_keys"]![userId] = forUser;
        }

        var answer = await client.PostAsync(serverName, "/_matrix/federation/v1/user/keys/claim", JsonSerializer.SerializeToElement(body), ct, timeout);
        return RemoteKeyParser.ClaimAnswer(answer, asked);
    }

    /// <summary>Fetches a user's device list from their server and caches it; null when the server cannot be asked or answers nonsense.</summary>
    public async Task<RemoteDeviceSnapshot?> ResyncAsync(string serverName, string userId, CancellationToken ct)
    {
        RemoteDeviceSnapshot snapshot;
        try
        {
            var answer = await client.GetAsync(serverName, "/_matrix/federation/v1/user/devices/" + Uri.EscapeDataString(userId), ct);
            snapshot = RemoteKeyParser.UserDevices(answer, userId, options.RequireSelfSignedKeys);
        }
        catch (Exception e) when (e is FederationException or FormatException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            LogResyncFailed(userId, e.Message);
            return null;
        }

        var cached = await cache.ReplaceAsync(userId, snapshot.StreamId, snapshot.Devices, snapshot.CrossSigningKeys, config.ServerName, time.GetUtcNow().ToUnixTimeMilliseconds(), ct);
        LogResynced(userId, snapshot.StreamId, snapshot.Devices.Count, cached);
        if (cached)
        {
            // What we hold changed: our users sharing a room with them re-query (device_lists.changed), as Synapse
            // notifies after a resync. Never cancelled: the cache is already written.
            await deviceLists.DevicesChangedAsync(userId, snapshot.Devices.Select(d => d.DeviceId).ToList(), CancellationToken.None);
        }
        return snapshot;
    }

    private static void AddList(JsonObject result, string userId, IEnumerable<CachedRemoteDevice> devices, IEnumerable<CachedCrossSigningKey> keys, IReadOnlyList<string> wanted)
    {
        var forUser = new JsonObject();
        foreach (var device in devices.Where(d => d.KeyJson is not null && (wanted.Count == 0 || wanted.Contains(d.DeviceId))).OrderBy(d => d.DeviceId, StringComparer.Ordinal))
        {
            forUser[device.DeviceId] = RemoteKeyParser.WithDisplayName(device.KeyJson!, device.DisplayName);
        }

        result["device_keys"]![userId] = forUser;
        foreach (var key in keys)
        {
            var section = key.KeyType switch
            {
                CrossSigningKeyTypes.Master => "master_keys",
                CrossSigningKeyTypes.SelfSigning => "self_signing_keys",
                _ => null,
            };
            if (section is not null)
            {
                result[section]![userId] = JsonNode.Parse(key.KeyJson);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Could not fetch the device list of {UserId}: {Reason}")]
    private partial void LogResyncFailed(string userId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Fetched the device list of {UserId} at version {StreamId}: {Count} devices (cached: {Cached})")]
    private partial void LogResynced(string userId, long streamId, int count, bool cached);
}
