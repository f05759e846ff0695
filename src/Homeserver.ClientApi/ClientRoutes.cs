using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Route groups for the client-server API: <c>v3</c>, with <c>r0</c> served as the same endpoints for old clients.</summary>
public static class ClientRoutes
{
    public static RouteGroupBuilder V3(this IEndpointRouteBuilder app) => app.MapGroup("/_matrix/client/{apiVersion:regex(^(v3|r0)$)}");

    public static RouteGroupBuilder V1(this IEndpointRouteBuilder app) => app.MapGroup("/_matrix/client/v1");

    public static RouteGroupBuilder Unstable(this IEndpointRouteBuilder app) => app.MapGroup("/_matrix/client/unstable");
}
