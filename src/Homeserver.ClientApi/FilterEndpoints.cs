using System.Text.Json.Nodes;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Filters (client-server API, "Filtering").</summary>
public static class FilterEndpoints
{
    public static IEndpointRouteBuilder MapFilterEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapPost("/user/{userId}/filter", Create);
        v3.MapGet("/user/{userId}/filter/{filterId}", Get);
        return app;
    }

    /// <summary>
    /// POST /_matrix/client/v3/user/{userId}/filter — upload a filter (validated against the spec's schema).
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3useruseridfilter
    /// </summary>
    private static async Task<IResult> Create(string userId, HttpContext http, Authed auth, FilterService filters, CancellationToken ct)
    {
        auth.RequireNonGuest();
        var body = await JsonBody.ReadObjectAsync(http);
        return JsonResults.Node(new JsonObject { ["filter_id"] = await filters.CreateAsync(auth.Requester, userId, body, ct) });
    }

    /// <summary>
    /// GET /_matrix/client/v3/user/{userId}/filter/{filterId} — a filter uploaded earlier; 404 M_NOT_FOUND if unknown.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3useruseridfilterfilterid
    /// </summary>
    private static async Task<IResult> Get(string userId, string filterId, Authed auth, FilterService filters, CancellationToken ct)
    {
        auth.RequireNonGuest();
        return JsonResults.Raw(System.Text.Encoding.UTF8.GetBytes(await filters.GetAsync(auth.Requester, userId, filterId, ct)));
    }
}
