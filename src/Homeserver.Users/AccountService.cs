using Homeserver.Core;
using Homeserver.Core.Configuration;

namespace Homeserver.Users;

/// <summary>A logged-in session handed to the client.</summary>
public sealed record Session(string UserId, string DeviceId, string AccessToken, string? RefreshToken, long? ExpiresInMs);

/// <summary>
/// Accounts and sessions: creating users, checking passwords, issuing and revoking tokens.
/// Endpoint concerns (UIA, request shapes) stay in ClientApi; this class enforces the rules.
/// </summary>
public sealed class AccountService(
    HomeserverConfig config,
    IAccountStore accounts,
    ISessionStore sessions,
    PasswordHasher hasher,
    TokenAuthenticator authenticator,
    TimeProvider time)
{
    public string ServerName => config.ServerName;

    /// <summary>Lower-cases and validates a requested localpart (client-server API "Registration").</summary>
    public string NormaliseLocalpart(string username)
    {
        var localpart = username.StartsWith('@') ? MatrixId.LocalpartOf(username) ?? username[1..] : username;
        localpart = localpart.ToLowerInvariant();
        if (!MatrixId.IsValidNewLocalpart(localpart))
        {
            throw new MatrixException(MatrixErrorCode.InvalidUsername, 400, "User ID can only contain characters a-z, 0-9, or '=_-./+'");
        }

        if (MatrixId.UserId(localpart, config.ServerName).Length > MatrixId.MaxLength)
        {
            throw new MatrixException(MatrixErrorCode.InvalidUsername, 400, "User ID is too long");
        }

        return localpart;
    }

    public async Task<bool> IsAvailableAsync(string localpart, CancellationToken ct) =>
        await accounts.GetUserAsync(MatrixId.UserId(localpart, config.ServerName), ct) is null;

    /// <summary>Creates an account; throws M_USER_IN_USE if the localpart is taken.</summary>
    public async Task<string> CreateAccountAsync(string localpart, string? password, bool isAdmin, bool isGuest, string? displayName, CancellationToken ct)
    {
        var userId = MatrixId.UserId(localpart, config.ServerName);
        var hash = password is null ? null : await hasher.HashAsync(password);
        var created = await accounts.CreateUserAsync(
            new UserRecord(userId, hash, time.GetUtcNow().ToUnixTimeMilliseconds(), isAdmin, isGuest, false, displayName ?? localpart, null), ct);
        if (!created)
        {
            throw new MatrixException(MatrixErrorCode.UserInUse, 400, "User ID already taken.");
        }

        return userId;
    }

    /// <summary>Issues a new access token (and refresh token if asked) for a device, creating the device if needed.</summary>
    public async Task<Session> CreateSessionAsync(string userId, string? deviceId, string? deviceDisplayName, bool withRefreshToken, CancellationToken ct)
    {
        deviceId ??= AccessTokens.NewDeviceId();
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var access = AccessTokens.NewAccessToken();
        string? refresh = null;
        long? expiresIn = null;
        byte[]? refreshHash = null;
        if (withRefreshToken)
        {
            refresh = AccessTokens.NewRefreshToken();
            refreshHash = AccessTokens.Hash(refresh);
            expiresIn = (long)AccessTokenLifetimeWithRefresh.TotalMilliseconds;
        }

        await sessions.CreateSessionAsync(
            userId,
            deviceId,
            deviceDisplayName,
            new NewSession(AccessTokens.Hash(access), expiresIn is null ? null : now + expiresIn, refreshHash, null),
            now,
            ct);
        return new Session(userId, deviceId, access, refresh, expiresIn);
    }

    /// <summary>How long an access token lives when the client asked for a refresh token (Synapse: 5 minutes).</summary>
    public static readonly TimeSpan AccessTokenLifetimeWithRefresh = TimeSpan.FromMinutes(5);

    /// <summary>Checks a password login; returns the user ID or throws 403 M_FORBIDDEN (never saying which part was wrong).</summary>
    public async Task<string> CheckPasswordAsync(string userIdOrLocalpart, string password, CancellationToken ct)
    {
        string userId;
        if (userIdOrLocalpart.StartsWith('@'))
        {
            userId = userIdOrLocalpart.ToLowerInvariant() == userIdOrLocalpart ? userIdOrLocalpart : "@" + (MatrixId.LocalpartOf(userIdOrLocalpart) ?? string.Empty).ToLowerInvariant() + ":" + MatrixId.ServerOf(userIdOrLocalpart);
        }
        else
        {
            userId = MatrixId.UserId(userIdOrLocalpart.ToLowerInvariant(), config.ServerName);
        }

        var user = await accounts.GetUserAsync(userId, ct);
        if (user?.PasswordHash is null || !await hasher.VerifyAsync(password, user.PasswordHash))
        {
            throw MatrixException.Forbidden("Invalid username or password");
        }

        if (user.Deactivated)
        {
            throw new MatrixException(MatrixErrorCode.UserDeactivated, 403, "This account has been deactivated");
        }

        return userId;
    }

    public async Task LogoutAsync(string accessToken, CancellationToken ct)
    {
        authenticator.Evict(accessToken);
        await sessions.DeleteAccessTokenAsync(AccessTokens.Hash(accessToken), ct);
    }

    public async Task<IReadOnlyList<string>> DeleteDevicesAsync(string userId, IReadOnlyCollection<string>? deviceIds, CancellationToken ct)
    {
        var deleted = await sessions.DeleteDevicesAsync(userId, deviceIds, ct);
        authenticator.EvictDevices(userId, deviceIds);
        return deleted;
    }
}
