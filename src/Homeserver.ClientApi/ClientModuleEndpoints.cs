using System.Text.Json.Nodes;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Small modules clients call at start-up: OpenID tokens, TURN servers, third-party protocols.</summary>
public static class ClientModuleEndpoints
{
    public static IEndpointRouteBuilder MapClientModuleEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapPost("/user/{userId}/openid/request_token", RequestOpenIdToken);
        v3.MapGet("/voip/turnServer", GetTurnServer);
        v3.MapGet("/thirdparty/protocols", GetProtocols);
        return app;
    }

    /// <summary>
    /// POST /_matrix/client/v3/user/{userId}/openid/request_token — an OpenID token that a third party can verify
    /// through our federation API's <c>/openid/userinfo</c>.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3useruseridopenidrequest_token
    /// </summary>
    private static async Task<IResult> RequestOpenIdToken(string userId, HttpContext http, Authed auth, OpenIdService openId, CancellationToken ct)
    {
        auth.RequireNonGuest();
        _ = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        var token = await openId.RequestTokenAsync(auth.Requester, userId, ct);
        return JsonResults.Node(new JsonObject
        {
            ["access_token"] = token.AccessToken,
            ["token_type"] = token.TokenType,
            ["matrix_server_name"] = token.MatrixServerName,
            ["expires_in"] = token.ExpiresIn,
        });
    }

    /// <summary>
    /// GET /_matrix/client/v3/voip/turnServer — TURN URIs and credentials (an empty object when none is configured).
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3voipturnserver
    /// </summary>
    private static IResult GetTurnServer(Authed auth, TurnService turn) => JsonResults.Node(turn.GetCredentials(auth.Requester));

    /// <summary>
    /// GET /_matrix/client/v3/thirdparty/protocols — the protocols bridged by application services. None are
    /// registered with this server, so the answer is an empty object.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3thirdpartyprotocols
    /// </summary>
    private static IResult GetProtocols(Authed auth) => JsonResults.Empty();
}
