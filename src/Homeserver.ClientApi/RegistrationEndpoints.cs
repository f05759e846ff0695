using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Account registration (client-server API, "Account registration and management").</summary>
public static class RegistrationEndpoints
{
    private const int MaxPasswordLength = 512;

    public static IEndpointRouteBuilder MapRegistrationEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapPost("/register", Register);
        v3.MapGet("/register/available", Available);
        return app;
    }

    /// <summary>
    /// POST /_matrix/client/v3/register — create an account, with user-interactive auth.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3register
    /// </summary>
    private static async Task<IResult> Register(
        HttpContext http, HomeserverConfig config, AccountService accounts, UserInteractiveAuth uia, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var kind = http.Request.Query["kind"].ToString();
        if (kind is not ("" or "user" or "guest"))
        {
            throw MatrixException.InvalidParam("kind must be 'user' or 'guest'");
        }

        var password = body.OptionalString("password");
        if (password is { Length: > MaxPasswordLength })
        {
            throw MatrixException.InvalidParam("Password too long");
        }

        var deviceId = body.OptionalString("device_id");
        var displayName = body.OptionalString("initial_device_display_name");
        var inhibitLogin = body.OptionalBool("inhibit_login") ?? false;
        var wantsRefresh = body.OptionalBool("refresh_token") ?? false;

        if (kind == "guest")
        {
            if (!config.AllowGuestAccess)
            {
                throw new MatrixException(MatrixErrorCode.GuestAccessForbidden, 403, "Guest access is disabled");
            }

            var guestLocalpart = await GenerateLocalpartAsync(accounts, ct);
            var guestId = await accounts.CreateAccountAsync(guestLocalpart, null, false, true, null, ct);
            var guestSession = await accounts.CreateSessionAsync(guestId, deviceId, displayName, wantsRefresh, ct);
            return JsonResults.Node(SessionJson(guestSession, config));
        }

        if (!config.EnableRegistration)
        {
            throw MatrixException.Forbidden("Registration has been disabled");
        }

        // Check the username before the UIA dance, as Synapse does, so the client learns early that it is taken.
        var username = body.OptionalString("username");
        string? localpart = null;
        if (username is not null)
        {
            localpart = accounts.NormaliseLocalpart(username);
            if (!await accounts.IsAvailableAsync(localpart, ct))
            {
                throw new MatrixException(MatrixErrorCode.UserInUse, 400, "User ID already taken.");
            }
        }

        IReadOnlyList<IReadOnlyList<string>> flows = config.RegistrationRequiresToken
            ? [["m.login.registration_token"]]
            : [["m.login.dummy"]];
        var session = await uia.AuthenticateAsync(body, "register", null, flows, new Dictionary<string, object?>(), (stage, auth, _) => stage switch
        {
            "m.login.dummy" => Task.FromResult(true),
            _ => throw new MatrixException(MatrixErrorCode.Unrecognized, 400, $"Unsupported auth stage {stage}"),
        }, ct);

        localpart ??= await GenerateLocalpartAsync(accounts, ct);
        var userId = await accounts.CreateAccountAsync(localpart, password, false, false, null, ct);
        uia.Complete(session);
        if (inhibitLogin)
        {
            return JsonResults.Node(new JsonObject { ["user_id"] = userId, ["home_server"] = config.ServerName });
        }

        var created = await accounts.CreateSessionAsync(userId, deviceId, displayName, wantsRefresh, ct);
        return JsonResults.Node(SessionJson(created, config));
    }

    /// <summary>
    /// GET /_matrix/client/v3/register/available — is a username free and valid?
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3registeravailable
    /// </summary>
    private static async Task<IResult> Available(HttpContext http, AccountService accounts, CancellationToken ct)
    {
        var username = http.Request.Query["username"].ToString();
        if (username.Length == 0)
        {
            throw MatrixException.MissingParam("Missing 'username'");
        }

        var localpart = accounts.NormaliseLocalpart(username);
        if (!await accounts.IsAvailableAsync(localpart, ct))
        {
            throw new MatrixException(MatrixErrorCode.UserInUse, 400, "User ID already taken.");
        }

        return JsonResults.Node(new JsonObject { ["available"] = true });
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
            json["expires_in_ms"] = s.ExpiresInMs;
        }

        return json;
    }

    /// <summary>A free numeric localpart for registrations without a username (as Synapse allocates them).</summary>
    internal static async Task<string> GenerateLocalpartAsync(AccountService accounts, CancellationToken ct)
    {
        while (true)
        {
            var candidate = RandomNumberGenerator.GetInt32(100_000_000, int.MaxValue).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (await accounts.IsAvailableAsync(candidate, ct))
            {
                return candidate;
            }
        }
    }
}
