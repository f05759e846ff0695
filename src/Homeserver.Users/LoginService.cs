using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.RateLimiting;

namespace Homeserver.Users;

/// <summary>A <c>POST /login</c> request: its type, its body (for the type's own fields) and the device fields.</summary>
public sealed record LoginRequest(string Type, JsonElement Body, string? DeviceId, string? InitialDeviceDisplayName, bool RefreshToken);

/// <summary>One entry of <c>GET /login</c>'s flows.</summary>
public sealed record LoginFlow(string Type, bool? GetLoginToken = null);

/// <summary>
/// Login (client-server spec "Login"): <c>m.login.password</c> and, when <c>login_via_existing_session</c> is on,
/// <c>m.login.token</c> with tokens from <c>POST /login/get_token</c>. Rate limits as Synapse applies them:
/// every attempt per client IP (rc_login.address), failed passwords per account (rc_login.failed_attempts),
/// successful logins per account (rc_login.account).
/// </summary>
public sealed class LoginService(HomeserverConfig config, AccountService accounts, SessionService sessions, RateLimiter limiter)
{
    public const string PasswordType = "m.login.password";
    public const string TokenType = "m.login.token";

    public IReadOnlyList<LoginFlow> Flows => config.Accounts.LoginViaExistingSession
        ? [new LoginFlow(TokenType, GetLoginToken: true), new LoginFlow(PasswordType)]
        : [new LoginFlow(PasswordType)];

    public async Task<Session> LoginAsync(LoginRequest request, string clientIp, CancellationToken ct)
    {
        limiter.Ratelimit(RateLimitAction.LoginAddress, clientIp);
        string userId;
        switch (request.Type)
        {
            case PasswordType:
                var password = LoginIdentifiers.String(request.Body, "password") ?? throw MatrixException.MissingParam("Missing 'password'");
                userId = await accounts.CheckPasswordAsync(await LoginIdentifiers.ResolveAsync(request.Body, accounts, ct), password, ct);
                break;
            case TokenType when config.Accounts.LoginViaExistingSession:
                var token = LoginIdentifiers.String(request.Body, "token") ?? throw MatrixException.MissingParam("Missing 'token'");
                userId = await sessions.ConsumeLoginTokenAsync(token, ct);
                break;
            default:
                throw MatrixException.Unknown($"Unknown login type {request.Type}");
        }

        limiter.Ratelimit(RateLimitAction.LoginAccount, userId);
        return await sessions.CreateSessionAsync(userId, request.DeviceId, request.InitialDeviceDisplayName, request.RefreshToken, ct);
    }
}
