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

/// <summary>Login, logout and whoami (client-server API, "Client Authentication").</summary>
public static class LoginEndpoints
{
    public static IEndpointRouteBuilder MapLoginEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapGet("/login", GetLoginFlows);
        v3.MapPost("/login", Login);
        v3.MapPost("/logout", Logout);
        v3.MapPost("/logout/all", LogoutAll);
        v3.MapGet("/account/whoami", WhoAmI);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/v3/login — the login types we accept.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3login
    /// </summary>
    private static IResult GetLoginFlows() => JsonResults.Node(new JsonObject
    {
        ["flows"] = new JsonArray(
            new JsonObject { ["type"] = "m.login.password" }),
    });

    /// <summary>
    /// POST /_matrix/client/v3/login — exchange credentials for an access token.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3login
    /// </summary>
    private static async Task<IResult> Login(HttpContext http, HomeserverConfig config, AccountService accounts, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var type = body.RequiredString("type");
        string userId;
        switch (type)
        {
            case "m.login.password":
                var user = ReadUserIdentifier(body);
                var password = body.RequiredString("password");
                userId = await accounts.CheckPasswordAsync(user, password, ct);
                break;
            default:
                throw new MatrixException(MatrixErrorCode.Unknown, 400, $"Unknown login type {type}");
        }

        var session = await accounts.CreateSessionAsync(
            userId, body.OptionalString("device_id"), body.OptionalString("initial_device_display_name"), body.OptionalBool("refresh_token") ?? false, ct);
        var json = RegistrationEndpoints.SessionJson(session, config);
        json["well_known"] = new JsonObject
        {
            ["m.homeserver"] = new JsonObject { ["base_url"] = config.PublicBaseUrl.AbsoluteUri.TrimEnd('/') },
        };
        return JsonResults.Node(json);
    }

    /// <summary>The user of a login request: <c>identifier</c> of type <c>m.id.user</c>, or the deprecated top-level <c>user</c>.</summary>
    private static string ReadUserIdentifier(JsonElement body)
    {
        if (body.OptionalObject("identifier") is { } identifier)
        {
            var idType = identifier.RequiredString("type");
            if (idType != "m.id.user")
            {
                throw new MatrixException(MatrixErrorCode.Unknown, 400, $"Unsupported identifier type {idType}");
            }

            return identifier.RequiredString("user");
        }

        return body.OptionalString("user") ?? throw MatrixException.MissingParam("Missing 'identifier'");
    }

    /// <summary>
    /// POST /_matrix/client/v3/logout — invalidate this access token.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3logout
    /// </summary>
    private static async Task<IResult> Logout(Authed auth, AccountService accounts, CancellationToken ct)
    {
        await accounts.DeleteDevicesAsync(auth.UserId, [auth.DeviceId], ct);
        await accounts.LogoutAsync(auth.AccessToken, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/logout/all — invalidate every access token of the user.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3logoutall
    /// </summary>
    private static async Task<IResult> LogoutAll(Authed auth, AccountService accounts, CancellationToken ct)
    {
        await accounts.DeleteDevicesAsync(auth.UserId, null, ct);
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
