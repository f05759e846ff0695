using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.ClientApi;

/// <summary>
/// An authenticated client request: bound from the access token (<c>Authorization: Bearer</c> or the
/// <c>access_token</c> query parameter) by declaring a parameter of this type on an endpoint.
/// Missing token: 401 M_MISSING_TOKEN; unknown: 401 M_UNKNOWN_TOKEN; expired: the same with soft_logout.
/// Guests are let through: endpoints that refuse them call <see cref="RequireNonGuest"/>. Each request
/// records the device's last-seen IP, user agent and time (in memory, flushed in batches).
/// </summary>
public sealed record Authed(Requester Requester, string AccessToken)
{
    public string UserId => Requester.UserId;

    public string DeviceId => Requester.DeviceId;

    public static async ValueTask<Authed?> BindAsync(HttpContext context)
    {
        var token = ReadToken(context.Request) ?? throw new MatrixException(MatrixErrorCode.MissingToken, 401, "Missing access token");
        var services = context.RequestServices;
        var authenticator = services.GetRequiredService<TokenAuthenticator>();
        var (status, requester) = await authenticator.AuthenticateAsync(token, context.RequestAborted);
        switch (status)
        {
            case TokenStatus.Valid:
                services.GetRequiredService<LastSeenTracker>().Record(
                    requester!.UserId,
                    requester.DeviceId,
                    services.GetRequiredService<ClientAddress>().Of(context),
                    UserAgentOf(context.Request),
                    services.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeMilliseconds());
                return new Authed(requester, token);
            case TokenStatus.Expired:
                throw new MatrixException(MatrixErrorCode.UnknownToken, 401, "Access token has expired",
                    new Dictionary<string, object?> { ["soft_logout"] = true });
            default:
                throw new MatrixException(MatrixErrorCode.UnknownToken, 401, "Unrecognised access token",
                    new Dictionary<string, object?> { ["soft_logout"] = false });
        }
    }

    /// <summary>The User-Agent header, cut to a length worth storing, or null.</summary>
    private static string? UserAgentOf(HttpRequest request)
    {
        const int MaxLength = 512;
        var agent = request.Headers.UserAgent.ToString();
        return agent.Length == 0 ? null : agent.Length > MaxLength ? agent[..MaxLength] : agent;
    }

    /// <summary>403 M_GUEST_ACCESS_FORBIDDEN for guest accounts (on the endpoints Synapse closes to guests).</summary>
    public Authed RequireNonGuest() => Requester.IsGuest
        ? throw new MatrixException(MatrixErrorCode.GuestAccessForbidden, 403, "Guest access not allowed")
        : this;

    /// <summary>403 M_FORBIDDEN unless the requester is a server admin.</summary>
    public Authed RequireAdmin() => Requester.IsAdmin ? this : throw MatrixException.Forbidden("You are not a server admin");

    /// <summary>The token from the Authorization header, else from the query string (deprecated but used by SyTest and old clients).</summary>
    public static string? ReadToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = header["Bearer ".Length..].Trim();
            return token.Length == 0 ? null : token;
        }

        var query = request.Query["access_token"].ToString();
        return query.Length == 0 ? null : query;
    }
}
