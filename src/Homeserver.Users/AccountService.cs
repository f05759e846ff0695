using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.RateLimiting;
using Microsoft.Extensions.Logging;

namespace Homeserver.Users;

/// <summary>A logged-in session handed to the client.</summary>
public sealed record Session(string UserId, string DeviceId, string AccessToken, string? RefreshToken, long? ExpiresInMs);

/// <summary>
/// Accounts: creating users, checking and changing passwords, guest upgrades and deactivation.
/// Endpoint concerns (request shapes) stay in ClientApi; this class enforces the rules.
/// </summary>
public sealed partial class AccountService(
    HomeserverConfig config,
    IAccountStore accounts,
    IThreepidStore threepids,
    SessionService sessions,
    PasswordHasher hasher,
    RateLimiter limiter,
    IEnumerable<IAccountDeactivationListener> deactivationListeners,
    ILogger<AccountService> logger,
    TimeProvider time)
{
    /// <summary>Longer passwords are refused (as Synapse does): Argon2 of megabytes of input is a denial of service.</summary>
    public const int MaxPasswordLength = 512;

    public string ServerName => config.ServerName;

    /// <summary>
    /// Lower-cases and validates a requested localpart (client-server API "Registration"; Synapse's rules):
    /// only <c>a-z 0-9 . _ = - / +</c>, not starting with <c>_</c>, and not all digits (reserved for guests)
    /// unless <paramref name="allowNumeric"/>.
    /// </summary>
    public string NormaliseLocalpart(string username, bool allowNumeric = false)
    {
        var localpart = username.StartsWith('@') ? MatrixId.LocalpartOf(username) ?? username[1..] : username;
        localpart = localpart.ToLowerInvariant();
        if (localpart.Length == 0)
        {
            throw new MatrixException(MatrixErrorCode.InvalidUsername, 400, "User ID cannot be empty");
        }

        if (!MatrixId.IsValidNewLocalpart(localpart))
        {
            throw new MatrixException(MatrixErrorCode.InvalidUsername, 400, "User ID can only contain characters a-z, 0-9, or '=_-./+'");
        }

        if (localpart[0] == '_')
        {
            throw new MatrixException(MatrixErrorCode.InvalidUsername, 400, "User ID may not begin with _");
        }

        if (!allowNumeric && localpart.All(char.IsAsciiDigit))
        {
            throw new MatrixException(MatrixErrorCode.InvalidUsername, 400, "Numeric user IDs are reserved for guest users.");
        }

        if (MatrixId.UserId(localpart, config.ServerName).Length > MatrixId.MaxLength)
        {
            throw new MatrixException(MatrixErrorCode.InvalidUsername, 400, $"User ID may not be longer than {MatrixId.MaxLength} characters");
        }

        return localpart;
    }

    public string UserIdOf(string localpart) => MatrixId.UserId(localpart, config.ServerName);

    public Task<UserRecord?> GetUserAsync(string userId, CancellationToken ct) => accounts.GetUserAsync(userId, ct);

    public async Task<bool> IsAvailableAsync(string localpart, CancellationToken ct) =>
        await accounts.GetUserAsync(UserIdOf(localpart), ct) is null;

    /// <summary>Checks the length limit and hashes a password (Argon2id, off the request thread).</summary>
    public Task<string> HashPasswordAsync(string password)
    {
        if (password.Length > MaxPasswordLength)
        {
            throw MatrixException.InvalidParam("Password too long");
        }

        return hasher.HashAsync(password);
    }

    /// <summary>Creates an account with a plain password (hashed here); throws M_USER_IN_USE if the localpart is taken.</summary>
    public async Task<string> CreateAccountAsync(string localpart, string? password, bool isAdmin, bool isGuest, string? displayName, CancellationToken ct) =>
        await CreateAccountWithHashAsync(localpart, password is null ? null : await HashPasswordAsync(password), isAdmin, isGuest, displayName, ct);

    /// <summary>Creates an account whose password was hashed earlier (e.g. during a UIA session).</summary>
    public async Task<string> CreateAccountWithHashAsync(string localpart, string? passwordHash, bool isAdmin, bool isGuest, string? displayName, CancellationToken ct)
    {
        var userId = UserIdOf(localpart);
        var created = await accounts.CreateUserAsync(
            new UserRecord(userId, passwordHash, time.GetUtcNow().ToUnixTimeMilliseconds(), isAdmin, isGuest, false, displayName ?? localpart, null), ct);
        if (!created)
        {
            throw new MatrixException(MatrixErrorCode.UserInUse, 400, "User ID already taken.");
        }

        LogAccountCreated(userId, isGuest, isAdmin);
        return userId;
    }

    /// <summary>Turns a guest account into a full account with a password (registration with <c>guest_access_token</c>).</summary>
    public async Task UpgradeGuestAsync(string guestUserId, string passwordHash, CancellationToken ct)
    {
        if (!await accounts.UpgradeGuestAsync(guestUserId, passwordHash, ct))
        {
            throw MatrixException.Forbidden("Cannot register taken user ID without valid guest credentials for that user.");
        }

        // Cached tokens still say "guest": make them re-read the account.
        sessions.Authenticator.EvictUser(guestUserId);
        LogGuestUpgraded(guestUserId);
    }

    /// <summary>The canonical (lower-cased) user ID for a login identifier: a full user ID or a localpart.</summary>
    public string CanonicalUserId(string userIdOrLocalpart)
    {
        if (userIdOrLocalpart.StartsWith('@'))
        {
            var localpart = MatrixId.LocalpartOf(userIdOrLocalpart);
            var server = MatrixId.ServerOf(userIdOrLocalpart);
            return localpart is null || server is null ? userIdOrLocalpart : "@" + localpart.ToLowerInvariant() + ":" + server;
        }

        return UserIdOf(userIdOrLocalpart.ToLowerInvariant());
    }

    /// <summary>
    /// Checks a password; returns the canonical user ID or throws 403 M_FORBIDDEN (never saying which part was wrong),
    /// 403 M_USER_DEACTIVATED for a deactivated account, or 429 once too many attempts failed (rc_login.failed_attempts).
    /// </summary>
    public async Task<string> CheckPasswordAsync(string userIdOrLocalpart, string password, CancellationToken ct)
    {
        var userId = CanonicalUserId(userIdOrLocalpart);
        limiter.Check(RateLimitAction.LoginFailedAttempts, userId);
        var user = await accounts.GetUserAsync(userId, ct);
        if (user is not null && user.PasswordHash is null && user.Deactivated)
        {
            throw new MatrixException(MatrixErrorCode.UserDeactivated, 403, "This account has been deactivated");
        }

        if (user?.PasswordHash is null || password.Length > MaxPasswordLength || !await hasher.VerifyAsync(password, user.PasswordHash))
        {
            limiter.Record(RateLimitAction.LoginFailedAttempts, userId);
            throw MatrixException.Forbidden("Invalid username or password");
        }

        if (user.Deactivated)
        {
            throw new MatrixException(MatrixErrorCode.UserDeactivated, 403, "This account has been deactivated");
        }

        return userId;
    }

    /// <summary>The local user with this third-party identifier (login with <c>m.id.thirdparty</c>), or null.</summary>
    public Task<string?> FindUserByThreepidAsync(string medium, string address, CancellationToken ct) =>
        threepids.FindUserAsync(medium, medium == "email" ? address.Trim().ToLowerInvariant() : address, ct);

    /// <summary>
    /// Sets a new password (already hashed). With <paramref name="logoutDevices"/>, every other device of the user
    /// is deleted with its tokens, keeping <paramref name="keepDeviceId"/> (the device that made the change).
    /// </summary>
    public async Task ChangePasswordAsync(string userId, string passwordHash, bool logoutDevices, string? keepDeviceId, CancellationToken ct)
    {
        await accounts.SetPasswordHashAsync(userId, passwordHash, ct);
        if (logoutDevices)
        {
            await sessions.DeleteDevicesAsync(userId, null, keepDeviceId, ct);
        }

        LogPasswordChanged(userId, logoutDevices);
    }

    /// <summary>
    /// Deactivates an account: no password, no devices or tokens, no third-party identifiers or account data; with
    /// <paramref name="erase"/> also no profile. Then tells every <see cref="IAccountDeactivationListener"/>
    /// (the rooms work makes the user leave their rooms).
    /// </summary>
    public async Task DeactivateAsync(string userId, bool erase, CancellationToken ct)
    {
        await accounts.DeactivateAsync(userId, erase, ct);
        sessions.Forget(userId);
        LogDeactivated(userId, erase);
        foreach (var listener in deactivationListeners)
        {
            await listener.OnAccountDeactivatedAsync(userId, erase, ct);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created account {UserId} (guest: {IsGuest}, admin: {IsAdmin})")]
    private partial void LogAccountCreated(string userId, bool isGuest, bool isAdmin);

    [LoggerMessage(Level = LogLevel.Information, Message = "Upgraded guest account {UserId} to a full account")]
    private partial void LogGuestUpgraded(string userId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Password of {UserId} changed (other devices logged out: {LoggedOut})")]
    private partial void LogPasswordChanged(string userId, bool loggedOut);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deactivated account {UserId} (erased: {Erased})")]
    private partial void LogDeactivated(string userId, bool erased);
}
