using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.RateLimiting;

namespace Homeserver.Users;

/// <summary>The fields of a <c>POST /register</c> body (null when absent).</summary>
public sealed record RegistrationRequest(
    string? Username,
    string? Password,
    string? DeviceId,
    string? InitialDeviceDisplayName,
    bool? InhibitLogin,
    bool? RefreshToken,
    string? GuestAccessToken);

/// <summary>A registered account and, unless <c>inhibit_login</c>, its first session.</summary>
public sealed record RegistrationResult(string UserId, Session? Session);

/// <summary>
/// Account registration (client-server spec "Account registration"), following Synapse where the spec is silent:
/// the username is checked before the UIA dance; the request's parameters and a hash of the password are kept in
/// the UIA session, so later requests of the dance may carry only <c>auth</c>; a session that already registered
/// an account answers with that account again (a retry after a lost answer does not create a second one).
/// </summary>
public sealed class RegistrationService(
    HomeserverConfig config,
    AccountService accounts,
    SessionService sessions,
    UserInteractiveAuth uia,
    RegistrationTokenService registrationTokens,
    RateLimiter limiter)
{
    private const string Purpose = "register";

    private static class Keys
    {
        public const string PasswordHash = "password_hash";
        public const string Username = "username";
        public const string DeviceId = "device_id";
        public const string DeviceDisplayName = "initial_device_display_name";
        public const string InhibitLogin = "inhibit_login";
        public const string RefreshToken = "refresh_token";
        public const string GuestAccessToken = "guest_access_token";
        public const string RegisteredUserId = "registered_user_id";
    }

    /// <summary>The UIA flows of registration: a registration token when required, else the dummy stage.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Flows => config.RegistrationRequiresToken
        ? [["m.login.registration_token"]]
        : [["m.login.dummy"]];

    /// <summary><c>kind=guest</c>: a guest account with a numeric ID and a new device (only when guest access is allowed).</summary>
    public async Task<RegistrationResult> RegisterGuestAsync(string? deviceDisplayName, bool refreshToken, string clientIp, CancellationToken ct)
    {
        if (!config.AllowGuestAccess)
        {
            throw MatrixException.Forbidden("Guest access is disabled");
        }

        limiter.Ratelimit(RateLimitAction.Registration, clientIp);
        var userId = await CreateWithFreeNumericIdAsync(null, isGuest: true, ct);
        var session = await sessions.CreateSessionAsync(userId, null, deviceDisplayName, refreshToken, ct);
        return new RegistrationResult(userId, session);
    }

    /// <summary>Registration of a full account (or the upgrade of a guest account), with user-interactive auth.</summary>
    public async Task<RegistrationResult> RegisterAsync(RegistrationRequest request, JsonElement body, string clientIp, CancellationToken ct)
    {
        limiter.Check(RateLimitAction.Registration, clientIp);
        if (!config.EnableRegistration)
        {
            throw MatrixException.Forbidden("Registration has been disabled");
        }

        if (request.Password is { Length: > AccountService.MaxPasswordLength })
        {
            throw MatrixException.InvalidParam("Invalid password");
        }

        // Synapse: a display name sent without a password is a client bug that would overwrite the stored parameters.
        if (request.Password is null)
        {
            request = request with { InitialDeviceDisplayName = null };
        }

        var sessionId = ExistingSessionId(body);
        var registered = sessionId is null ? null : uia.GetData(sessionId, Keys.RegisteredUserId);
        var guestToken = request.GuestAccessToken ?? Stored(sessionId, Keys.GuestAccessToken);
        if (request.Username is not null)
        {
            await CheckUsernameAsync(request.Username, guestToken, registered, ct);
        }

        sessionId = await uia.AuthenticateAsync(body, Purpose, null, Flows, new Dictionary<string, object?>(), (stage, auth, sid, stageCt) => stage switch
        {
            "m.login.dummy" => Task.FromResult(true),
            "m.login.registration_token" => registrationTokens.CheckStageAsync(auth, sid, stageCt),
            _ => throw new MatrixException(MatrixErrorCode.Unrecognized, 400, $"Unsupported auth stage {stage}"),
        }, ct, sid => RememberAsync(sid, request));

        registered = uia.GetData(sessionId, Keys.RegisteredUserId);
        string userId;
        if (registered is not null)
        {
            userId = registered;
        }
        else
        {
            var hash = request.Password is not null ? await accounts.HashPasswordAsync(request.Password) : uia.GetData(sessionId, Keys.PasswordHash);
            if (hash is null)
            {
                throw MatrixException.MissingParam("Missing params: password");
            }

            var username = request.Username ?? uia.GetData(sessionId, Keys.Username);
            guestToken = request.GuestAccessToken ?? uia.GetData(sessionId, Keys.GuestAccessToken);
            limiter.Ratelimit(RateLimitAction.Registration, clientIp);
            if (guestToken is not null)
            {
                userId = await GuestOfTokenAsync(guestToken, username, ct);
                await accounts.UpgradeGuestAsync(userId, hash, ct);
            }
            else if (username is not null)
            {
                userId = await accounts.CreateAccountWithHashAsync(accounts.NormaliseLocalpart(username), hash, false, false, null, ct);
            }
            else
            {
                userId = await CreateWithFreeNumericIdAsync(hash, isGuest: false, ct);
            }

            uia.SetData(sessionId, Keys.RegisteredUserId, userId);
            await registrationTokens.CompleteAsync(sessionId, ct);
        }

        var inhibitLogin = request.InhibitLogin ?? Stored(sessionId, Keys.InhibitLogin) == "true";
        if (inhibitLogin)
        {
            return new RegistrationResult(userId, null);
        }

        var session = await sessions.CreateSessionAsync(
            userId,
            request.DeviceId ?? uia.GetData(sessionId, Keys.DeviceId),
            request.InitialDeviceDisplayName ?? uia.GetData(sessionId, Keys.DeviceDisplayName),
            request.RefreshToken ?? Stored(sessionId, Keys.RefreshToken) == "true",
            ct);
        return new RegistrationResult(userId, session);
    }

    /// <summary>
    /// <c>GET /register/available</c> and the early check of <c>POST /register</c>: M_INVALID_USERNAME, M_USER_IN_USE,
    /// or for a guest upgrade 403 unless the guest token belongs to that very user.
    /// </summary>
    public async Task CheckUsernameAsync(string username, string? guestToken, string? registeredUserId, CancellationToken ct)
    {
        var localpart = accounts.NormaliseLocalpart(username, allowNumeric: guestToken is not null);
        var userId = accounts.UserIdOf(localpart);
        if (registeredUserId is not null)
        {
            if (userId != registeredUserId)
            {
                throw MatrixException.Unknown("A different user ID has already been registered for this session");
            }

            return;
        }

        if (!await accounts.IsAvailableAsync(localpart, ct))
        {
            if (guestToken is null)
            {
                throw new MatrixException(MatrixErrorCode.UserInUse, 400, "User ID already taken.");
            }

            await GuestOfTokenAsync(guestToken, username, ct);
        }
    }

    /// <summary>The guest account an access token belongs to, which must be the one named (if a name is given); else 403.</summary>
    private async Task<string> GuestOfTokenAsync(string guestToken, string? username, CancellationToken ct)
    {
        var (status, requester) = await sessions.Authenticator.AuthenticateAsync(guestToken, ct);
        if (status != TokenStatus.Valid || requester is not { IsGuest: true }
            || (username is not null && accounts.UserIdOf(accounts.NormaliseLocalpart(username, allowNumeric: true)) != requester.UserId))
        {
            throw MatrixException.Forbidden("Cannot register taken user ID without valid guest credentials for that user.");
        }

        return requester.UserId;
    }

    private async Task RememberAsync(string sessionId, RegistrationRequest request)
    {
        if (request.Password is not null && uia.GetData(sessionId, Keys.PasswordHash) is null)
        {
            uia.SetData(sessionId, Keys.PasswordHash, await accounts.HashPasswordAsync(request.Password));
        }

        void Keep(string key, string? value)
        {
            if (value is not null)
            {
                uia.SetData(sessionId, key, value);
            }
        }

        Keep(Keys.Username, request.Username);
        Keep(Keys.DeviceId, request.DeviceId);
        Keep(Keys.DeviceDisplayName, request.InitialDeviceDisplayName);
        Keep(Keys.InhibitLogin, request.InhibitLogin is { } inhibit ? (inhibit ? "true" : "false") : null);
        Keep(Keys.RefreshToken, request.RefreshToken is { } refresh ? (refresh ? "true" : "false") : null);
        Keep(Keys.GuestAccessToken, request.GuestAccessToken);
    }

    private string? Stored(string? sessionId, string key) => sessionId is null ? null : uia.GetData(sessionId, key);

    private static string? ExistingSessionId(JsonElement body) =>
        body.ValueKind == JsonValueKind.Object
        && body.TryGetProperty("auth", out var auth) && auth.ValueKind == JsonValueKind.Object
        && auth.TryGetProperty("session", out var sid) && sid.ValueKind == JsonValueKind.String
            ? sid.GetString()
            : null;

    /// <summary>A free numeric localpart (guests, and registrations without a username), as Synapse allocates them.</summary>
    private async Task<string> CreateWithFreeNumericIdAsync(string? passwordHash, bool isGuest, CancellationToken ct)
    {
        while (true)
        {
            var candidate = RandomNumberGenerator.GetInt32(100_000_000, int.MaxValue).ToString(CultureInfo.InvariantCulture);
            try
            {
                return await accounts.CreateAccountWithHashAsync(candidate, passwordHash, false, isGuest, null, ct);
            }
            catch (MatrixException e) when (e.ErrorCode == MatrixErrorCode.UserInUse)
            {
                // Taken by chance: draw again.
            }
        }
    }
}
