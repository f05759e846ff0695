namespace Homeserver.E2ee;

// Storage ports of the E2EE module, implemented by Homeserver.Storage (src/Homeserver.Storage/E2ee).
// Every JSON value crosses these interfaces as canonical JSON text.

/// <summary>A device's identity keys as uploaded, with the device's display name.</summary>
public sealed record StoredDeviceKeys(string UserId, string DeviceId, string KeyJson, string? DisplayName);

/// <summary>A one-time or fallback key: <c>algorithm:key_id</c> and its canonical JSON (a string or a key object).</summary>
public sealed record UploadedKey(string Algorithm, string KeyId, string KeyJson)
{
    public string FullKeyId => Algorithm + ":" + KeyId;
}

/// <summary>One key wanted by <c>/keys/claim</c>.</summary>
public sealed record ClaimRequest(string UserId, string DeviceId, string Algorithm);

/// <summary>A key handed out by <c>/keys/claim</c>: a one-time key (now deleted) or a fallback key (now marked used).</summary>
public sealed record ClaimedKey(string UserId, string DeviceId, string Algorithm, string KeyId, string KeyJson);

/// <summary>
/// A row of the device list stream: <see cref="UserId"/>'s devices or cross-signing keys changed.
/// <see cref="NotifyUserId"/> null: everyone sharing a room with the user (and the user) is told; otherwise only that user.
/// </summary>
public sealed record DeviceListChange(string UserId, string? NotifyUserId = null);

/// <summary>New identity keys of a device; <see cref="SignedPartChanged"/> drops the cross-signing signatures of the old keys.</summary>
public sealed record DeviceKeysWrite(string KeyJson, bool SignedPartChanged);

/// <summary>Everything one <c>/keys/upload</c> stores, in one transaction; a device list change at <see cref="StreamId"/> when set.</summary>
public sealed record KeyUploadWrite(
    string UserId,
    string DeviceId,
    DeviceKeysWrite? DeviceKeys,
    IReadOnlyList<UploadedKey> OneTimeKeys,
    IReadOnlyList<UploadedKey> FallbackKeys,
    long? StreamId,
    long NowTs);

/// <summary>Device identity keys, one-time keys and fallback keys (tables e2e_device_keys, e2e_one_time_keys, e2e_fallback_keys).</summary>
public interface IDeviceKeyStore
{
    Task<StoredDeviceKeys?> GetDeviceKeysAsync(string userId, string deviceId, CancellationToken ct);

    /// <summary>The keys of every device of these users that uploaded keys.</summary>
    Task<IReadOnlyList<StoredDeviceKeys>> GetDeviceKeysForUsersAsync(IReadOnlyCollection<string> userIds, CancellationToken ct);

    /// <summary>Stored one-time keys among <paramref name="keys"/>, by <c>algorithm:key_id</c>.</summary>
    Task<IReadOnlyDictionary<string, string>> GetOneTimeKeysAsync(string userId, string deviceId, IReadOnlyCollection<UploadedKey> keys, CancellationToken ct);

    /// <summary>
    /// Stores an upload: replaces the device keys, adds one-time keys (an existing key ID is left alone), replaces
    /// fallback keys (a re-upload of the same key keeps its "used" flag). False when the device does not exist.
    /// </summary>
    Task<bool> SaveAsync(KeyUploadWrite write, CancellationToken ct);

    /// <summary>Unclaimed one-time keys per algorithm.</summary>
    Task<IReadOnlyDictionary<string, int>> CountOneTimeKeysAsync(string userId, string deviceId, CancellationToken ct);

    /// <summary>Algorithms for which the device has a fallback key that has not been handed out.</summary>
    Task<IReadOnlyList<string>> GetUnusedFallbackKeyAlgorithmsAsync(string userId, string deviceId, CancellationToken ct);

    /// <summary>
    /// Claims one key per request: the oldest one-time key (deleted, so never handed out twice, even to concurrent
    /// claims) or else the fallback key (marked used). Requests without any key are absent from the result.
    /// </summary>
    Task<IReadOnlyList<ClaimedKey>> ClaimAsync(IReadOnlyList<ClaimRequest> requests, CancellationToken ct);

    /// <summary>The IDs of the user's devices (with or without keys).</summary>
    Task<IReadOnlyList<string>> GetDeviceIdsAsync(string userId, CancellationToken ct);
}

/// <summary>A cross-signing key as stored: type (master, self_signing, user_signing), public key and the uploaded JSON.</summary>
public sealed record StoredCrossSigningKey(string UserId, string KeyType, string PublicKey, string KeyJson)
{
    public string KeyId => "ed25519:" + PublicKey;
}

/// <summary>A signature uploaded with <c>/keys/signatures/upload</c>.</summary>
public sealed record StoredSignature(string SignerUserId, string SigningKeyId, string TargetUserId, string TargetKeyId, string Signature);

/// <summary>Cross-signing keys and signatures (tables e2e_cross_signing_keys, e2e_cross_signing_signatures).</summary>
public interface ICrossSigningStore
{
    Task<IReadOnlyList<StoredCrossSigningKey>> GetKeysAsync(IReadOnlyCollection<string> userIds, CancellationToken ct);

    /// <summary>
    /// Replaces keys of the same types, deletes the signatures made by <paramref name="droppedSigningKeyIds"/> (keys
    /// being replaced) and on <paramref name="droppedTargetKeyIds"/> (a replaced master key), and records the device
    /// list changes at <paramref name="streamId"/>, in one transaction.
    /// </summary>
    Task SaveKeysAsync(
        string userId,
        IReadOnlyList<StoredCrossSigningKey> keys,
        IReadOnlyList<string> droppedSigningKeyIds,
        IReadOnlyList<string> droppedTargetKeyIds,
        long streamId,
        IReadOnlyList<DeviceListChange> changes,
        long nowTs,
        CancellationToken ct);

    /// <summary>Signatures on the devices and keys of <paramref name="targetUserIds"/> made by the targets themselves or by <paramref name="viewerUserId"/>.</summary>
    Task<IReadOnlyList<StoredSignature>> GetSignaturesAsync(IReadOnlyCollection<string> targetUserIds, string viewerUserId, CancellationToken ct);

    /// <summary>Stores signatures (replacing the same signer key's signature of the same target) and records the changes.</summary>
    Task SaveSignaturesAsync(IReadOnlyList<StoredSignature> signatures, long streamId, IReadOnlyList<DeviceListChange> changes, long nowTs, CancellationToken ct);
}

/// <summary>A membership row that changed in a stream range, in a room the viewer is in or just left.</summary>
public sealed record MembershipChange(long RoomNid, string UserId, string Membership, string ViewerMembership);

/// <summary>The device list stream (table e2e_device_list_changes) and the "who shares a room with whom" reads it needs.</summary>
public interface IDeviceListStore
{
    Task AddChangesAsync(long streamId, IReadOnlyList<DeviceListChange> changes, long nowTs, CancellationToken ct);

    /// <summary>
    /// Users with device list changes in (<paramref name="after"/>, <paramref name="upTo"/>] that the viewer may be
    /// told about: the viewer, users who share a joined room with the viewer now, and rows addressed to the viewer.
    /// </summary>
    Task<IReadOnlyList<string>> GetChangedUsersAsync(string viewerUserId, long after, long upTo, CancellationToken ct);

    /// <summary>Membership rows changed in (<paramref name="after"/>, <paramref name="upTo"/>] in rooms the viewer is joined to or whose own membership changed then.</summary>
    Task<IReadOnlyList<MembershipChange>> GetMembershipChangesAsync(string viewerUserId, long after, long upTo, CancellationToken ct);

    /// <summary>The users currently joined to any of these rooms.</summary>
    Task<IReadOnlyList<string>> GetJoinedMembersAsync(IReadOnlyCollection<long> roomNids, CancellationToken ct);

    /// <summary>Users who share a joined room with <paramref name="userId"/> now (restricted to <paramref name="among"/> when given).</summary>
    Task<IReadOnlyList<string>> GetUsersSharingRoomAsync(string userId, IReadOnlyCollection<string>? among, CancellationToken ct);

    /// <summary>
    /// The position of the user's last change seen by everyone sharing a room (not a row addressed to one user) at or
    /// below <paramref name="upTo"/>; 0 when there is none. The version of a device list that federation hands out as
    /// <c>stream_id</c> and cites as <c>prev_id</c>.
    /// </summary>
    Task<long> GetLastChangeAsync(string userId, long upTo, CancellationToken ct);

    /// <summary>Removes what belongs to deleted devices: their keys, inbox, and the signatures made by or on them.</summary>
    Task DeleteDeviceDataAsync(string userId, IReadOnlyCollection<string> deviceIds, CancellationToken ct);
}

/// <summary>A send-to-device message for one local device.</summary>
public sealed record ToDeviceMessage(string UserId, string DeviceId, string Sender, string Type, string ContentJson);

/// <summary>A message waiting in a device's inbox.</summary>
public sealed record PendingToDevice(long StreamId, string Sender, string Type, string ContentJson);

/// <summary>What storing one <c>/sendToDevice</c> request did.</summary>
public sealed record ToDeviceAddResult(bool Duplicate, int Dropped);

/// <summary>Send-to-device inboxes (tables e2e_to_device_inbox, e2e_to_device_deliveries, e2e_to_device_txns).</summary>
public interface IToDeviceStore
{
    /// <summary>The existing devices of these local users.</summary>
    Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> GetDeviceIdsAsync(IReadOnlyCollection<string> userIds, CancellationToken ct);

    /// <summary>
    /// Records the sender's transaction and stores the messages at <paramref name="streamId"/>, keeping at most
    /// <paramref name="maxPendingPerDevice"/> messages per device (the oldest go). Nothing is stored for a transaction
    /// already seen.
    /// </summary>
    Task<ToDeviceAddResult> AddAsync(
        string senderUserId, string senderDeviceId, string txnId, long streamId, IReadOnlyList<ToDeviceMessage> messages, int maxPendingPerDevice, long nowTs, CancellationToken ct);

    /// <summary>
    /// For /sync: deletes the messages delivered by the answer whose next_batch was <paramref name="acknowledgedBatch"/>,
    /// then returns up to <paramref name="limit"/> pending messages at or below <paramref name="batchPosition"/>,
    /// oldest first, and remembers them as delivered by the answer at <paramref name="batchPosition"/>.
    /// </summary>
    Task<IReadOnlyList<PendingToDevice>> TakeForSyncAsync(string userId, string deviceId, long? acknowledgedBatch, long batchPosition, int limit, CancellationToken ct);

    /// <summary>Pending messages with positions in (<paramref name="after"/>, <paramref name="upTo"/>], oldest first.</summary>
    Task<IReadOnlyList<PendingToDevice>> GetAfterAsync(string userId, string deviceId, long after, long upTo, int limit, CancellationToken ct);

    /// <summary>Deletes the device's messages at or below <paramref name="upTo"/>.</summary>
    Task DeleteUpToAsync(string userId, string deviceId, long upTo, CancellationToken ct);
}

/// <summary>A key backup version. Deleted versions are kept (their number is never reused).</summary>
public sealed record BackupVersion(long Version, string Algorithm, string AuthDataJson, long Etag, bool Deleted);

/// <summary>One backed-up room key.</summary>
public sealed record RoomKeyBackup(string RoomId, string SessionId, long FirstMessageIndex, long ForwardedCount, bool IsVerified, string SessionDataJson);

/// <summary>A backup's etag and key count after a change.</summary>
public sealed record BackupCounts(long Etag, long Count);

/// <summary>The outcome of writing keys: stored, not the current version (with the current one), or no backup at all.</summary>
public sealed record BackupUploadOutcome(BackupCounts? Counts, long? CurrentVersion);

/// <summary>Server-side key backup (tables e2e_room_keys_versions, e2e_room_keys).</summary>
public interface IKeyBackupStore
{
    /// <summary>Creates the next version (one more than any version the user ever had).</summary>
    Task<long> CreateVersionAsync(string userId, string algorithm, string authDataJson, CancellationToken ct);

    /// <summary>A version (deleted or not); with <paramref name="version"/> null, the current one (the highest not deleted).</summary>
    Task<BackupVersion?> GetVersionAsync(string userId, long? version, CancellationToken ct);

    Task<bool> UpdateAuthDataAsync(string userId, long version, string authDataJson, CancellationToken ct);

    /// <summary>Marks a version deleted and deletes its keys. Null when the version never existed.</summary>
    Task<bool?> DeleteVersionAsync(string userId, long version, CancellationToken ct);

    Task<long> CountKeysAsync(string userId, long version, CancellationToken ct);

    Task<IReadOnlyList<RoomKeyBackup>> GetKeysAsync(string userId, long version, string? roomId, string? sessionId, CancellationToken ct);

    /// <summary>
    /// Writes keys into <paramref name="version"/> if it is the current version, keeping a stored key when
    /// <paramref name="shouldReplace"/>(stored, uploaded) says so, and bumps the etag if anything changed.
    /// </summary>
    Task<BackupUploadOutcome> UploadAsync(string userId, long version, IReadOnlyList<RoomKeyBackup> keys, Func<RoomKeyBackup, RoomKeyBackup, bool> shouldReplace, CancellationToken ct);

    /// <summary>Deletes keys of a version (all, one room's, one session) and bumps the etag. Null when the version is unknown or deleted.</summary>
    Task<BackupCounts?> DeleteKeysAsync(string userId, long version, string? roomId, string? sessionId, CancellationToken ct);
}

/// <summary>A user's dehydrated device.</summary>
public sealed record DehydratedDevice(string DeviceId, string DeviceDataJson);

/// <summary>The outcome of storing a dehydrated device.</summary>
public sealed record DehydratedDeviceReplaced(bool DeviceIdInUse, string? ReplacedDeviceId);

/// <summary>Dehydrated devices (table e2e_dehydrated_devices, plus their row in devices).</summary>
public interface IDehydratedDeviceStore
{
    Task<DehydratedDevice?> GetAsync(string userId, CancellationToken ct);

    /// <summary>
    /// Creates the device (refused with <see cref="DehydratedDeviceReplaced.DeviceIdInUse"/> when another device of
    /// the user has that ID) and makes it the user's dehydrated device, deleting the previous one.
    /// </summary>
    Task<DehydratedDeviceReplaced> ReplaceAsync(string userId, string deviceId, string deviceDataJson, string? displayName, long nowTs, CancellationToken ct);

    /// <summary>Deletes the user's dehydrated device (and its device row); its ID, or null when there was none.</summary>
    Task<string?> DeleteAsync(string userId, CancellationToken ct);
}
