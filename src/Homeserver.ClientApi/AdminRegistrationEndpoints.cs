using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Synapse's shared-secret registration admin API, kept compatible for admin tools and SyTest.</summary>
public static class AdminRegistrationEndpoints
{
    public static IEndpointRouteBuilder MapAdminRegistrationEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/_synapse/admin/v1/register", GetNonce);
        app.MapPost("/_synapse/admin/v1/register", Register);
        return app;
    }

    /// <summary>GET /_synapse/admin/v1/register — a one-use nonce for the next request.</summary>
    private static IResult GetNonce(HomeserverConfig config, SharedSecretRegistration registration)
    {
        RequireSecret(config);
        return JsonResults.Node(new JsonObject { ["nonce"] = registration.NewNonce() });
    }

    /// <summary>POST /_synapse/admin/v1/register — create a user with the shared secret's HMAC.</summary>
    private static async Task<IResult> Register(
        HttpContext http, HomeserverConfig config, SharedSecretRegistration registration, AccountService accounts, SessionService sessions, CancellationToken ct)
    {
        var secret = RequireSecret(config);
        var body = await JsonBody.ReadObjectAsync(http);
        var nonce = body.RequiredString("nonce");
        var username = body.RequiredString("username");
        var password = body.RequiredString("password");
        var admin = body.OptionalBool("admin") ?? false;
        var mac = body.RequiredString("mac");
        if (password.Length > AccountService.MaxPasswordLength)
        {
            throw MatrixException.InvalidParam("Invalid password");
        }

        registration.Verify(secret, nonce, username, password, admin, mac);
        var localpart = accounts.NormaliseLocalpart(username);
        var userId = await accounts.CreateAccountAsync(localpart, password, admin, false, body.OptionalString("displayname"), ct);
        var session = await sessions.CreateSessionAsync(userId, null, null, false, ct);
        return JsonResults.Node(RegistrationEndpoints.SessionJson(session, config));
    }

    private static string RequireSecret(HomeserverConfig config) =>
        config.RegistrationSharedSecret ?? throw MatrixException.BadJson("Shared secret registration is not enabled");
}
