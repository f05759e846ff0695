using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.RateLimiting;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Login, token refresh, logout and whoami (client-server API, "Client Authentication").</summary>
public static class LoginEndpoints
{
    public static IEndpointRouteBuilder MapLoginEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapGet("/login", GetLoginFlows);
        v3.MapPost("/login", Login);
        v3.MapPost("/refresh", Refresh);
        v3.MapPost("/logout", Logout);
        v3.MapPost("/logout/all", LogoutAll);
        v3.MapGet("/account/whoami", WhoAmI);
        app.V1().MapPost("/login/get_token", GetLoginToken);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/v3/login — the login types we accept (<c>m.login.token</c> with <c>get_login_token</c> when enabled).
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3login
    /// </summary>
    private static IResult GetLoginFlows(LoginService login)
    {
        var flows = new JsonArray();
        foreach (var flow in login.Flows)
        {
            var json = new JsonObject { ["type"] = flow.Type };
            if (flow.GetLoginToken is { } getLoginToken)
            {
                json["get_login_token"] = getLoginToken;
            }

            flows.Add(json);
        }

        return JsonResults.Node(new JsonObject { ["flows"] = flows });
    }

    /// <summary>
    /// POST /_matrix/client/v3/login — exchange credentials for an access token (and a refresh token if asked).
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3login
    /// </summary>
    private static async Task<IResult> Login(HttpContext http, HomeserverConfig config, LoginService login, ClientAddress address, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var request = new LoginRequest(
            body.RequiredString("type"),
            body,
            body.OptionalString("device_id"),
            body.OptionalString("initial_device_display_name"),
            body.OptionalBool("refresh_token") ?? false);
        var session = await login.LoginAsync(request, address.Of(http), ct);
        var json = RegistrationEndpoints.SessionJson(session, config);
        json["well_known"] = new JsonObject
        {
            ["m.homeserver"] = new JsonObject { ["base_url"] = config.PublicBaseUrl.AbsoluteUri.TrimEnd('/') },
        };
        return JsonResults.Node(json);
    }

    /// <summary>
    /// POST /_matrix/client/v3/refresh — a new access token and refresh token for a refresh token.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3refresh
    /// </summary>
    private static async Task<IResult> Refresh(HttpContext http, SessionService sessions, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var session = await sessions.RefreshAsync(body.RequiredString("refresh_token"), ct);
        var json = new JsonObject { ["access_token"] = session.AccessToken, ["refresh_token"] = session.RefreshToken };
        if (session.ExpiresInMs is { } expiresIn)
        {
            json["expires_in_ms"] = expiresIn;
        }

        return JsonResults.Node(json);
    }

    /// <summary>
    /// POST /_matrix/client/v1/login/get_token — a single-use m.login.token token for another device, after
    /// user-interactive auth every time (the spec requires re-prompting).
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv1loginget_token
    /// </summary>
    private static async Task<IResult> GetLoginToken(
        HttpContext http, Authed auth, HomeserverConfig config, SessionService sessions, AccountService accounts, UserInteractiveAuth uia, RateLimiter limiter, CancellationToken ct)
    {
        if (!config.Accounts.LoginViaExistingSession)
        {
            throw MatrixException.Unrecognized("Unrecognized request");
        }

        auth.RequireNonGuest();
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        var sessionId = await AccountUia.RequirePasswordAsync(body, "login_get_token", auth, uia, accounts, ct);
        limiter.Ratelimit(RateLimitAction.LoginTokenRequest, auth.UserId, auth.Requester);
        var (token, expiresIn) = await sessions.CreateLoginTokenAsync(auth.UserId, ct);
        uia.Complete(sessionId);
        return JsonResults.Node(new JsonObject { ["login_token"] = token, ["expires_in_ms"] = expiresIn });
    }

    /// <summary>
    /// POST /_matrix/client/v3/logout — invalidate this access token and delete its device.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3logout
    /// </summary>
    private static async Task<IResult> Logout(Authed auth, SessionService sessions, CancellationToken ct)
    {
        await sessions.LogoutAsync(auth.UserId, auth.DeviceId, auth.AccessToken, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/logout/all — invalidate every access token of the user and delete every device.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3logoutall
    /// </summary>
    private static async Task<IResult> LogoutAll(Authed auth, SessionService sessions, CancellationToken ct)
    {
        await sessions.DeleteDevicesAsync(auth.UserId, null, null, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// GET /_matrix/client/v3/account/whoami — who owns this access token.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3accountwhoami
    /// </summary>
    private static IResult WhoAmI(Authed auth) => JsonResults.Node(new JsonObject
    {
        ["user_id"] = auth.UserId,
        ["device_id"] = auth.DeviceId,
        ["is_guest"] = auth.Requester.IsGuest,
    });
}
