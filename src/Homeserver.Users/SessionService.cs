using Homeserver.Core;
using Homeserver.Core.Configuration;

namespace Homeserver.Users;

/// <summary>
/// Sessions and devices: issuing access and refresh tokens, refresh-token rotation, logout, device listing,
/// renaming and deletion, and single-use m.login.token tokens. Every change that revokes a token also evicts it
/// from the <see cref="TokenAuthenticator"/> cache, so a revoked token stops working at once.
/// </summary>
public sealed class SessionService(
    HomeserverConfig config,
    ISessionStore sessions,
    ITokenStore tokens,
    TokenAuthenticator authenticator,
    LastSeenTracker lastSeen,
    TimeProvider time,
    IEnumerable<IDeviceListNotifier> deviceLists)
{
    private readonly IDeviceListNotifier[] _deviceLists = deviceLists.ToArray();

    /// <summary>Synapse's limit on device display names.</summary>
    public const int MaxDeviceDisplayNameLength = 100;

    public TokenAuthenticator Authenticator => authenticator;

    /// <summary>
    /// Issues a new access token (and a refresh token if asked and enabled) for a device, creating the device if needed.
    /// Using the ID of an existing device replaces that device's tokens.
    /// </summary>
    public async Task<Session> CreateSessionAsync(string userId, string? deviceId, string? deviceDisplayName, bool withRefreshToken, CancellationToken ct)
    {
        CheckDisplayName(deviceDisplayName);
        deviceId ??= AccessTokens.NewDeviceId();
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var access = AccessTokens.NewAccessToken();
        var refresh = withRefreshToken && config.Accounts.RefreshableAccessTokenLifetime is not null ? AccessTokens.NewRefreshToken() : null;
        var session = NewSessionFor(access, refresh, now, out var expiresIn);
        await sessions.CreateSessionAsync(userId, deviceId, deviceDisplayName, session, now, ct);
        authenticator.EvictDevices(userId, [deviceId]);
        foreach (var notifier in _deviceLists)
        {
            await notifier.DevicesChangedAsync(userId, [deviceId], ct);
        }

        return new Session(userId, deviceId, access, refresh, expiresIn);
    }

    /// <summary>
    /// <c>POST /refresh</c>: a new access token and refresh token for the session of <paramref name="refreshToken"/>.
    /// The old refresh token keeps working until the new access token (or refresh token) is first used, then it is
    /// revoked together with its access token (as Synapse does). Unknown, spent or expired: 401 M_UNKNOWN_TOKEN.
    /// </summary>
    public async Task<Session> RefreshAsync(string refreshToken, CancellationToken ct)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var access = AccessTokens.NewAccessToken();
        var refresh = AccessTokens.NewRefreshToken();
        var next = NewSessionFor(access, refresh, now, out var expiresIn);
        var result = await sessions.RotateRefreshTokenAsync(AccessTokens.Hash(refreshToken), next, now, ct);
        foreach (var revoked in result.RevokedTokenHashes)
        {
            authenticator.EvictHash(revoked);
        }

        return result.Outcome switch
        {
            RefreshOutcome.Refreshed => new Session(result.UserId!, result.DeviceId!, access, refresh, expiresIn),
            RefreshOutcome.Expired => throw SoftLogout("The refresh token has expired"),
            _ => throw SoftLogout("Unknown refresh token, or it was already used"),
        };
    }

    /// <summary>Logout: deletes the device of the access token (and so all its tokens), as the spec asks.</summary>
    public async Task LogoutAsync(string userId, string deviceId, string accessToken, CancellationToken ct)
    {
        await sessions.DeleteAccessTokenAsync(AccessTokens.Hash(accessToken), ct);
        await DeleteDevicesAsync(userId, [deviceId], null, ct);
        authenticator.Evict(accessToken);
    }

    /// <summary>Deletes devices with their tokens (all of them when <paramref name="deviceIds"/> is null, except one).</summary>
    public async Task<IReadOnlyList<string>> DeleteDevicesAsync(string userId, IReadOnlyCollection<string>? deviceIds, string? exceptDeviceId, CancellationToken ct)
    {
        var deleted = await sessions.DeleteDevicesAsync(userId, deviceIds, exceptDeviceId, ct);
        authenticator.EvictDevices(userId, deviceIds, exceptDeviceId);
        lastSeen.Forget(userId, deleted);
        if (deleted.Count > 0)
        {
            foreach (var notifier in _deviceLists)
            {
                await notifier.DevicesDeletedAsync(userId, deleted, ct);
            }
        }

        return deleted;
    }

    /// <summary>Forgets everything cached about a user's sessions (after deactivation removed them in the database).</summary>
    public void Forget(string userId)
    {
        authenticator.EvictUser(userId);
        lastSeen.Forget(userId, null);
    }

    /// <summary>The user's devices with their most recent last-seen data (in-memory records not yet flushed included).</summary>
    public async Task<IReadOnlyList<DeviceRecord>> ListDevicesAsync(string userId, CancellationToken ct) =>
        (await sessions.ListDevicesAsync(userId, ct)).Select(lastSeen.Overlay).ToList();

    public async Task<DeviceRecord> GetDeviceAsync(string userId, string deviceId, CancellationToken ct) =>
        await sessions.GetDeviceAsync(userId, deviceId, ct) is { } device
            ? lastSeen.Overlay(device)
            : throw MatrixException.NotFound("No device found");

    public async Task RenameDeviceAsync(string userId, string deviceId, string? displayName, CancellationToken ct)
    {
        CheckDisplayName(displayName);
        if (!await sessions.SetDeviceDisplayNameAsync(userId, deviceId, displayName, ct))
        {
            throw MatrixException.NotFound("No device found");
        }

        foreach (var notifier in _deviceLists)
        {
            await notifier.DevicesChangedAsync(userId, [deviceId], ct);
        }
    }

    /// <summary>A single-use m.login.token token for another device of the user, and how long it lives.</summary>
    public async Task<(string Token, long ExpiresInMs)> CreateLoginTokenAsync(string userId, CancellationToken ct)
    {
        var token = AccessTokens.NewLoginToken();
        var lifetime = (long)config.Accounts.LoginTokenTimeout.TotalMilliseconds;
        await tokens.CreateLoginTokenAsync(AccessTokens.Hash(token), userId, time.GetUtcNow().ToUnixTimeMilliseconds() + lifetime, ct);
        return (token, lifetime);
    }

    /// <summary>Spends an m.login.token token; its user, or 403 M_FORBIDDEN if it is unknown, used or expired.</summary>
    public async Task<string> ConsumeLoginTokenAsync(string token, CancellationToken ct) =>
        await tokens.ConsumeLoginTokenAsync(AccessTokens.Hash(token), time.GetUtcNow().ToUnixTimeMilliseconds(), ct)
        ?? throw MatrixException.Forbidden("Invalid login token");

    private NewSession NewSessionFor(string access, string? refresh, long now, out long? expiresInMs)
    {
        expiresInMs = null;
        long? refreshExpires = null;
        if (refresh is not null)
        {
            expiresInMs = config.Accounts.RefreshableAccessTokenLifetime is { } accessLifetime ? (long)accessLifetime.TotalMilliseconds : null;
            if (config.Accounts.RefreshTokenLifetime is { } refreshLifetime)
            {
                refreshExpires = now + (long)refreshLifetime.TotalMilliseconds;
            }
        }

        return new NewSession(AccessTokens.Hash(access), expiresInMs is null ? null : now + expiresInMs, refresh is null ? null : AccessTokens.Hash(refresh), refreshExpires);
    }

    private static void CheckDisplayName(string? displayName)
    {
        if (displayName is { Length: > MaxDeviceDisplayNameLength })
        {
            throw new MatrixException(MatrixErrorCode.TooLarge, 400, $"Device display name is too long (max {MaxDeviceDisplayNameLength})");
        }
    }

    private static MatrixException SoftLogout(string message) =>
        new(MatrixErrorCode.UnknownToken, 401, message, new Dictionary<string, object?> { ["soft_logout"] = true });
}
