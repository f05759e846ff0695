using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.Federation;

/// <summary>OpenID token verification for third parties (server-server API, "OpenID").</summary>
public static class OpenIdUserInfoEndpoints
{
    public static IEndpointRouteBuilder MapOpenIdUserInfoEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/_matrix/federation/v1/openid/userinfo", GetUserInfo);
        return app;
    }

    /// <summary>
    /// GET /_matrix/federation/v1/openid/userinfo?access_token= — who an OpenID token (from
    /// <c>/openid/request_token</c>) belongs to. Needs no server signature: the token is the credential.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1openiduserinfo
    /// </summary>
    private static async Task<IResult> GetUserInfo(HttpContext http, OpenIdService openId, CancellationToken ct)
    {
        var token = http.Request.Query["access_token"].ToString();
        if (token.Length == 0)
        {
            throw new MatrixException(MatrixErrorCode.MissingToken, 401, "Access Token required");
        }

        var userId = await openId.GetUserAsync(token, ct)
            ?? throw new MatrixException(MatrixErrorCode.UnknownToken, 401, "Access Token unknown or expired");
        return JsonResults.Node(new JsonObject { ["sub"] = userId });
    }
}
