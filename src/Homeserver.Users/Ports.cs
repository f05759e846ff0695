namespace Homeserver.Users;

/// <summary>A local account as stored.</summary>
public sealed record UserRecord(
    string UserId,
    string? PasswordHash,
    long CreatedTs,
    bool IsAdmin,
    bool IsGuest,
    bool Deactivated,
    string? DisplayName,
    string? AvatarUrl,
    bool Erased = false);

/// <summary>
/// What an access token resolves to. Tokens are stored only as SHA-256 hashes.
/// <see cref="PredecessorHash"/> is set on a token made by <c>/refresh</c> until it is first used: the session it
/// replaced (and so the refresh token that made it) is then revoked.
/// </summary>
public sealed record AccessTokenRecord(string UserId, string DeviceId, long? ExpiresTs, bool IsGuest, bool IsAdmin, bool Deactivated, byte[]? PredecessorHash = null);

/// <summary>A session to store: the hashes of a new access token and (optionally) refresh token.</summary>
public sealed record NewSession(byte[] AccessTokenHash, long? ExpiresTs, byte[]? RefreshTokenHash, long? RefreshExpiresTs);

/// <summary>A device as stored, with its last-seen information (possibly older than the in-memory tracker's).</summary>
public sealed record DeviceRecord(string UserId, string DeviceId, string? DisplayName, long? LastSeenTs, string? LastSeenIp, string? LastSeenUserAgent);

/// <summary>The outcome of a refresh-token rotation in the store.</summary>
public enum RefreshOutcome
{
    Refreshed,

    /// <summary>No such refresh token (never issued, logged out, or revoked because its successor was used).</summary>
    Unknown,

    Expired,
}

/// <summary>The result of <see cref="ISessionStore.RotateRefreshTokenAsync"/>: who the session belongs to and which token hashes were revoked.</summary>
public sealed record RefreshResult(RefreshOutcome Outcome, string? UserId, string? DeviceId, IReadOnlyList<byte[]> RevokedTokenHashes);

/// <summary>Storage of local accounts (implemented by Homeserver.Storage).</summary>
public interface IAccountStore
{
    /// <summary>Creates the account; false if the user ID is taken.</summary>
    Task<bool> CreateUserAsync(UserRecord user, CancellationToken ct);

    Task<UserRecord?> GetUserAsync(string userId, CancellationToken ct);

    Task SetPasswordHashAsync(string userId, string passwordHash, CancellationToken ct);

    /// <summary>Turns a guest account into a full account with a password; false if it is not a guest account.</summary>
    Task<bool> UpgradeGuestAsync(string userId, string passwordHash, CancellationToken ct);

    /// <summary>
    /// Deactivates the account in one transaction: removes its password, devices and tokens, third-party
    /// identifiers, account data and filters; when <paramref name="erase"/>, marks it erased and clears its profile.
    /// </summary>
    Task DeactivateAsync(string userId, bool erase, CancellationToken ct);

    /// <summary>Sets (or clears, with null) the display name; false if the user does not exist.</summary>
    Task<bool> SetDisplayNameAsync(string userId, string? displayName, CancellationToken ct);

    /// <summary>Sets (or clears, with null) the avatar URL; false if the user does not exist.</summary>
    Task<bool> SetAvatarUrlAsync(string userId, string? avatarUrl, CancellationToken ct);
}

/// <summary>Storage of devices and their access and refresh tokens (implemented by Homeserver.Storage).</summary>
public interface ISessionStore
{
    /// <summary>
    /// Creates the device if it does not exist (keeping its display name if it does) and stores a new session for it.
    /// An existing device's other tokens are deleted: logging in again with a device ID replaces its session.
    /// </summary>
    Task CreateSessionAsync(string userId, string deviceId, string? displayName, NewSession session, long nowTs, CancellationToken ct);

    Task<AccessTokenRecord?> FindAccessTokenAsync(byte[] tokenHash, CancellationToken ct);

    /// <summary>The first use of a refreshed token: deletes the session it replaced. Returns the revoked token hash, if any.</summary>
    Task<byte[]?> RetirePredecessorAsync(byte[] tokenHash, CancellationToken ct);

    /// <summary>
    /// Rotates a refresh token: stores <paramref name="next"/> as its successor (replacing an unused earlier successor)
    /// and revokes the session it came from. Returns who it belongs to and which token hashes were revoked.
    /// </summary>
    Task<RefreshResult> RotateRefreshTokenAsync(byte[] refreshTokenHash, NewSession next, long nowTs, CancellationToken ct);

    /// <summary>Deletes one access token (logout).</summary>
    Task DeleteAccessTokenAsync(byte[] tokenHash, CancellationToken ct);

    /// <summary>
    /// Deletes devices (with their tokens): the listed ones, or all of the user's devices when <paramref name="deviceIds"/>
    /// is null, except <paramref name="exceptDeviceId"/>. Returns the deleted device IDs.
    /// </summary>
    Task<IReadOnlyList<string>> DeleteDevicesAsync(string userId, IReadOnlyCollection<string>? deviceIds, string? exceptDeviceId, CancellationToken ct);

    Task<IReadOnlyList<DeviceRecord>> ListDevicesAsync(string userId, CancellationToken ct);

    Task<DeviceRecord?> GetDeviceAsync(string userId, string deviceId, CancellationToken ct);

    /// <summary>Renames a device; false if the user has no such device.</summary>
    Task<bool> SetDeviceDisplayNameAsync(string userId, string deviceId, string? displayName, CancellationToken ct);

    /// <summary>Writes a batch of last-seen records (devices that no longer exist are skipped).</summary>
    Task UpdateLastSeenAsync(IReadOnlyList<LastSeen> batch, CancellationToken ct);
}

/// <summary>Short-lived single-purpose tokens: m.login.token login tokens and OpenID tokens (stored as hashes).</summary>
public interface ITokenStore
{
    Task CreateLoginTokenAsync(byte[] tokenHash, string userId, long expiresTs, CancellationToken ct);

    /// <summary>Deletes the login token and returns its user if it had not expired (a login token works once).</summary>
    Task<string?> ConsumeLoginTokenAsync(byte[] tokenHash, long nowTs, CancellationToken ct);

    Task CreateOpenIdTokenAsync(byte[] tokenHash, string userId, long expiresTs, long nowTs, CancellationToken ct);

    /// <summary>The user of an unexpired OpenID token, or null.</summary>
    Task<string?> FindOpenIdTokenAsync(byte[] tokenHash, long nowTs, CancellationToken ct);
}

/// <summary>A third-party identifier bound to a local account.</summary>
public sealed record ThreepidRecord(string Medium, string Address, long ValidatedAt, long AddedAt);

/// <summary>The third-party identifiers (email, msisdn) of local accounts.</summary>
public interface IThreepidStore
{
    Task<IReadOnlyList<ThreepidRecord>> ListAsync(string userId, CancellationToken ct);

    Task<string?> FindUserAsync(string medium, string address, CancellationToken ct);

    /// <summary>Removes the association; false if the user did not have it.</summary>
    Task<bool> DeleteAsync(string userId, string medium, string address, CancellationToken ct);
}
