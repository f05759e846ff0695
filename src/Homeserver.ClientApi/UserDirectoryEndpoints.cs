using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>User directory (client-server API, "User directory").</summary>
public static class UserDirectoryEndpoints
{
    public static IEndpointRouteBuilder MapUserDirectoryEndpoints(this IEndpointRouteBuilder app)
    {
        app.V3().MapPost("/user_directory/search", Search);
        return app;
    }

    /// <summary>
    /// POST /_matrix/client/v3/user_directory/search — users matching <c>search_term</c>, at most <c>limit</c> (default 10).
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3user_directorysearch
    /// </summary>
    private static async Task<IResult> Search(HttpContext http, Authed auth, UserDirectoryService directory, CancellationToken ct)
    {
        auth.RequireNonGuest();
        var body = await JsonBody.ReadObjectAsync(http);
        var term = body.RequiredString("search_term");
        var limit = body.OptionalInt("limit");
        if (limit is < 0)
        {
            throw MatrixException.InvalidParam("limit must not be negative");
        }

        return JsonResults.Node(await directory.SearchAsync(auth.Requester, term, limit, ct));
    }
}
