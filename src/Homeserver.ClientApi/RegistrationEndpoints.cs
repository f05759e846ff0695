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

/// <summary>Account registration (client-server API, "Account registration and management").</summary>
public static class RegistrationEndpoints
{
    public static IEndpointRouteBuilder MapRegistrationEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapPost("/register", Register);
        v3.MapGet("/register/available", Available);
        app.V1().MapGet("/register/m.login.registration_token/validity", TokenValidity);
        v3.MapGet("/register/m.login.registration_token/validity", TokenValidity);
        return app;
    }

    /// <summary>
    /// POST /_matrix/client/v3/register — create an account (or a guest account with <c>kind=guest</c>), with user-interactive auth.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3register
    /// </summary>
    private static async Task<IResult> Register(
        HttpContext http, HomeserverConfig config, RegistrationService registration, ClientAddress address, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var kind = http.Request.Query["kind"].ToString();
        var refreshToken = body.OptionalBool("refresh_token");
        var displayName = body.OptionalString("initial_device_display_name");
        RegistrationResult result;
        if (kind == "guest")
        {
            result = await registration.RegisterGuestAsync(displayName, refreshToken ?? false, address.Of(http), ct);
        }
        else if (kind is "" or "user")
        {
            // Only application services register with an access token (Synapse); a guest upgrades with guest_access_token.
            if (Authed.ReadToken(http.Request) is not null)
            {
                throw MatrixException.Unknown("An access token should not be provided on requests to /register (except if type is m.login.application_service)");
            }

            var username = body.OptionalString("username");
            if (username is { Length: > 512 })
            {
                throw new MatrixException(MatrixErrorCode.InvalidUsername, 400, "Invalid username");
            }

            var request = new RegistrationRequest(
                username,
                body.OptionalString("password"),
                body.OptionalString("device_id"),
                displayName,
                body.OptionalBool("inhibit_login"),
                refreshToken,
                body.OptionalString("guest_access_token"));
            result = await registration.RegisterAsync(request, body, address.Of(http), ct);
        }
        else
        {
            throw MatrixException.Unrecognized($"Do not understand membership kind: {kind}", 400);
        }

        return JsonResults.Node(result.Session is { } session
            ? SessionJson(session, config)
            : new JsonObject { ["user_id"] = result.UserId, ["home_server"] = config.ServerName });
    }

    /// <summary>
    /// GET /_matrix/client/v3/register/available — is a username free and valid?
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3registeravailable
    /// </summary>
    private static async Task<IResult> Available(HttpContext http, HomeserverConfig config, RegistrationService registration, CancellationToken ct)
    {
        if (!config.EnableRegistration)
        {
            throw MatrixException.Forbidden("Registration has been disabled");
        }

        var username = http.Request.Query["username"].ToString();
        if (username.Length == 0)
        {
            throw MatrixException.MissingParam("Missing 'username'");
        }

        await registration.CheckUsernameAsync(username, null, null, ct);
        return JsonResults.Node(new JsonObject { ["available"] = true });
    }

    /// <summary>
    /// GET /_matrix/client/v1/register/m.login.registration_token/validity — can this registration token be used now?
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1registermloginregistration_tokenvalidity
    /// </summary>
    private static async Task<IResult> TokenValidity(
        HttpContext http, HomeserverConfig config, RegistrationTokenService tokens, RateLimiter limiter, ClientAddress address, CancellationToken ct)
    {
        limiter.Ratelimit(RateLimitAction.RegistrationTokenValidity, address.Of(http));
        if (!config.EnableRegistration)
        {
            throw MatrixException.Forbidden("Registration has been disabled");
        }

        var token = http.Request.Query["token"].ToString();
        if (token.Length == 0)
        {
            throw MatrixException.MissingParam("Missing 'token'");
        }

        return JsonResults.Node(new JsonObject { ["valid"] = await tokens.IsValidAsync(token, ct) });
    }

    internal static JsonObject SessionJson(Session s, HomeserverConfig config)
    {
        var json = new JsonObject
        {
            ["user_id"] = s.UserId,
            ["access_token"] = s.AccessToken,
            ["device_id"] = s.DeviceId,
            ["home_server"] = config.ServerName,
        };
        if (s.RefreshToken is not null)
        {
            json["refresh_token"] = s.RefreshToken;
        }

        if (s.ExpiresInMs is not null)
        {
            json["expires_in_ms"] = s.ExpiresInMs;
        }

        return json;
    }
}
