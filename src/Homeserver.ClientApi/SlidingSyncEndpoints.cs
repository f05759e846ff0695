using Homeserver.Http;
using Homeserver.Sync.SlidingSync;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.ClientApi;

/// <summary>Simplified sliding sync (MSC4186), advertised as <c>org.matrix.simplified_msc3575</c> in <c>/versions</c>.</summary>
public static class SlidingSyncEndpoints
{
    public static IEndpointRouteBuilder MapSlidingSyncEndpoints(this IEndpointRouteBuilder app)
    {
        app.ServiceProvider.GetRequiredService<UnstableFeatures>().Add(SlidingSyncService.UnstableFeature);
        app.Unstable().MapPost("/org.matrix.simplified_msc3575/sync", Sync);
        return app;
    }

    /// <summary>
    /// POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync — lists of rooms by recency, room subscriptions and
    /// extensions, from a connection position <c>pos</c>, long-polling up to <c>timeout</c>.
    /// https://github.com/matrix-org/matrix-spec-proposals/blob/main/proposals/4186-simplified-sliding-sync.md
    /// </summary>
    private static async Task<IResult> Sync(HttpContext http, Authed auth, SlidingSyncService sliding, CancellationToken ct)
    {
        var query = http.Request.Query;
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        var timeoutText = query["timeout"].ToString();
        TimeSpan? timeout = timeoutText.Length > 0 ? SyncEndpoints.ParseTimeout(timeoutText, TimeSpan.Zero) : null;
        var setPresenceText = query["set_presence"].ToString();
        var setPresence = setPresenceText.Length > 0 ? SyncEndpoints.ParseSetPresence(setPresenceText) : null;
        var pos = query["pos"].ToString();
        var request = SlidingSyncRequest.Parse(body, pos.Length > 0 ? pos : null, timeout, setPresence, SyncEndpoints.MaxTimeout);
        return JsonResults.Raw(await sliding.SyncAsync(auth.Requester, request, ct));
    }
}
