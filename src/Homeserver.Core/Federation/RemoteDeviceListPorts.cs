namespace Homeserver.Core.Federation;

/// <summary>One device of a remote user as cached: its identity keys (canonical JSON, verified; null if it has none) and display name.</summary>
public sealed record CachedRemoteDevice(string DeviceId, string? KeyJson, string? DisplayName);

/// <summary>A remote user's cross-signing key as cached: type (master or self_signing), public key and JSON.</summary>
public sealed record CachedCrossSigningKey(string KeyType, string PublicKey, string KeyJson);

/// <summary>A fresh (not stale) cached device list of a remote user.</summary>
public sealed record CachedRemoteDeviceList(string UserId, long StreamId, IReadOnlyList<CachedRemoteDevice> Devices);

/// <summary>What applying an <c>m.device_list_update</c> to the cache did.</summary>
public enum RemoteDeviceUpdateOutcome
{
    /// <summary>Nothing cached for the user: a stale marker now records the version, the next query fetches the list.</summary>
    NotCached,

    /// <summary>The update followed the cached version and was applied.</summary>
    Applied,

    /// <summary>The update did not follow the cached version (an update was missed): the list is stale and will be fetched again.</summary>
    MarkedStale,
}

/// <summary>
/// Remote users' device lists and cross-signing keys as their servers told us (tables <c>e2e_remote_device_lists</c>,
/// <c>e2e_remote_devices</c>, and <c>e2e_cross_signing_keys</c> for remote users), kept only for users who share a
/// room with one of our users, plus the "who shares a room with whom" reads federation needs.
/// Implemented by Homeserver.Storage.
/// </summary>
public interface IRemoteDeviceListStore
{
    /// <summary>Servers other than ours with a user joined to a room where <paramref name="userId"/> is joined.</summary>
    Task<IReadOnlyList<string>> GetServersSharingRoomAsync(string userId, string ourServer, CancellationToken ct);

    /// <summary>Those of <paramref name="userIds"/> who are joined to a room where one of our users is joined.</summary>
    Task<IReadOnlyList<string>> GetUsersSharingRoomWithLocalUsersAsync(IReadOnlyCollection<string> userIds, string ourServer, CancellationToken ct);

    /// <summary>The fresh cached lists among <paramref name="userIds"/> (stale or absent ones are not returned).</summary>
    Task<IReadOnlyList<CachedRemoteDeviceList>> GetFreshAsync(IReadOnlyCollection<string> userIds, CancellationToken ct);

    /// <summary>
    /// Applies one device's update at version <paramref name="streamId"/> if every one of <paramref name="prevIds"/>
    /// is the cached version (and there is at least one); otherwise marks the list stale, remembering the highest
    /// version heard of. Atomic per user.
    /// </summary>
    Task<RemoteDeviceUpdateOutcome> ApplyUpdateAsync(string userId, long streamId, IReadOnlyList<long> prevIds, CachedRemoteDevice device, bool deleted, long nowTs, CancellationToken ct);

    /// <summary>
    /// Replaces the cached list with a snapshot at version <paramref name="streamId"/>, with the user's cross-signing
    /// keys. Refused (false) when a newer version was heard of meanwhile, or when the user no longer shares a room
    /// with one of ours (nobody would keep the cache up to date).
    /// </summary>
    Task<bool> ReplaceAsync(string userId, long streamId, IReadOnlyList<CachedRemoteDevice> devices, IReadOnlyList<CachedCrossSigningKey> crossSigningKeys, string ourServer, long nowTs, CancellationToken ct);

    /// <summary>Replaces cached cross-signing keys (an <c>m.signing_key_update</c>); only for users whose list is cached. False when not cached.</summary>
    Task<bool> UpdateCrossSigningKeysAsync(string userId, IReadOnlyList<CachedCrossSigningKey> keys, CancellationToken ct);

    /// <summary>
    /// Forgets the cached lists and cross-signing keys of those of <paramref name="userIds"/> who no longer share a room
    /// with one of our users (their servers stop telling us about changes). Returns the users forgotten.
    /// </summary>
    Task<IReadOnlyList<string>> ForgetUntrackedAsync(IReadOnlyCollection<string> userIds, string ourServer, CancellationToken ct);
}
