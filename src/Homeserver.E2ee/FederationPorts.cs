using System.Text.Json;
using System.Text.Json.Nodes;

namespace Homeserver.E2ee;

// Ports the federation module implements later. Until it does, nothing is registered: remote key queries and
// claims answer "failures" for every remote server, and to-device messages for remote users are dropped (logged).

/// <summary>
/// Key queries and claims for users on other servers (server-server API "End-to-End Encryption":
/// <c>POST /_matrix/federation/v1/user/keys/query</c> and <c>/user/keys/claim</c>). An implementation may answer
/// from a cache of remote device lists.
/// </summary>
public interface IRemoteKeyClient
{
    /// <summary>
    /// Asks <paramref name="serverName"/> for the keys of its users: a map from user ID to device IDs (empty: all).
    /// Returns the server's answer (<c>device_keys</c>, <c>master_keys</c>, <c>self_signing_keys</c>). Throws any
    /// exception when the server cannot be reached or answers with an error; the caller reports it in <c>failures</c>.
    /// </summary>
    Task<JsonObject> QueryKeysAsync(string serverName, IReadOnlyDictionary<string, IReadOnlyList<string>> deviceKeys, TimeSpan timeout, CancellationToken ct);

    /// <summary>
    /// Claims one-time keys from <paramref name="serverName"/>: user ID to device ID to algorithm. Returns the
    /// server's answer (<c>one_time_keys</c>); throws when the server cannot be reached.
    /// </summary>
    Task<JsonObject> ClaimKeysAsync(string serverName, IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> oneTimeKeys, TimeSpan timeout, CancellationToken ct);
}

/// <summary>
/// Sends send-to-device messages to users on another server as an <c>m.direct_to_device</c> EDU
/// (server-server API "Send-to-device messaging"). Queues and retries; must not throw for an unreachable server.
/// </summary>
public interface IRemoteToDeviceSender
{
    /// <param name="messages">Recipient user ID → device ID (or <c>*</c>) → message content.</param>
    Task SendAsync(string serverName, string sender, string eventType, string messageId, IReadOnlyDictionary<string, IReadOnlyDictionary<string, JsonElement>> messages, CancellationToken ct);
}

/// <summary>What changed in a local user's device list, after it was committed.</summary>
/// <param name="DeviceIds">The devices that were added, changed or deleted (empty for a cross-signing change).</param>
/// <param name="Deleted">The devices were deleted.</param>
/// <param name="CrossSigningChanged">The master or self-signing key changed (an <c>m.signing_key_update</c> EDU).</param>
public sealed record DeviceListUpdate(string UserId, IReadOnlyList<string> DeviceIds, bool Deleted, bool CrossSigningChanged, long StreamId);

/// <summary>
/// Told after a local user's device list or cross-signing keys changed, so that federation can send
/// <c>m.device_list_update</c> and <c>m.signing_key_update</c> EDUs to the servers sharing a room with the user.
/// Must return quickly and must not throw.
/// </summary>
public interface IDeviceListListener
{
    void OnDeviceListChanged(DeviceListUpdate update);
}
