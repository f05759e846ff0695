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
    string? AvatarUrl);

/// <summary>What an access token resolves to. Tokens are stored only as SHA-256 hashes.</summary>
public sealed record AccessTokenRecord(string UserId, string DeviceId, long? ExpiresTs, bool IsGuest, bool IsAdmin, bool Deactivated);

/// <summary>A session to store: the hashes of a new access token and (optionally) refresh token.</summary>
public sealed record NewSession(byte[] AccessTokenHash, long? ExpiresTs, byte[]? RefreshTokenHash, long? RefreshExpiresTs);

/// <summary>Storage of local accounts (implemented by Homeserver.Storage).</summary>
public interface IAccountStore
{
    /// <summary>Creates the account; false if the user ID is taken.</summary>
    Task<bool> CreateUserAsync(UserRecord user, CancellationToken ct);

    Task<UserRecord?> GetUserAsync(string userId, CancellationToken ct);

    Task SetPasswordHashAsync(string userId, string passwordHash, CancellationToken ct);
}

/// <summary>Storage of devices and their tokens (implemented by Homeserver.Storage).</summary>
public interface ISessionStore
{
    /// <summary>Creates the device if it does not exist (keeping its display name if it does) and stores a new session for it.</summary>
    Task CreateSessionAsync(string userId, string deviceId, string? displayName, NewSession session, long nowTs, CancellationToken ct);

    Task<AccessTokenRecord?> FindAccessTokenAsync(byte[] tokenHash, CancellationToken ct);

    /// <summary>Deletes one access token (logout); returns the (user, device) it belonged to.</summary>
    Task DeleteAccessTokenAsync(byte[] tokenHash, CancellationToken ct);

    /// <summary>Deletes devices (with their tokens); all of the user's devices when <paramref name="deviceIds"/> is null. Returns the deleted device IDs.</summary>
    Task<IReadOnlyList<string>> DeleteDevicesAsync(string userId, IReadOnlyCollection<string>? deviceIds, CancellationToken ct);
}
