using System.Globalization;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Http;
using Homeserver.Sync;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.ClientApi;

/// <summary>Synchronisation (client-server API, "Syncing").</summary>
public static class SyncEndpoints
{
    /// <summary>The longest long-poll we hold (clients ask for 30 s; a cap protects the server from silly values).</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(5);

    public static IEndpointRouteBuilder MapSyncEndpoints(this IEndpointRouteBuilder app)
    {
        app.V3().MapGet("/sync", Sync);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/v3/sync — everything new for the user since a token, long-polling up to <c>timeout</c>.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3sync
    /// </summary>
    private static async Task<IResult> Sync(HttpContext http, Authed auth, SyncService sync, CancellationToken ct)
    {
        var query = http.Request.Query;
        SyncToken? since = null;
        var sinceText = query["since"].ToString();
        if (sinceText.Length > 0)
        {
            if (!SyncToken.TryParse(sinceText, out var token))
            {
                throw MatrixException.InvalidParam("Invalid 'since' token");
            }

            since = token;
        }

        var timeout = TimeSpan.Zero;
        if (query["timeout"].ToString() is { Length: > 0 } timeoutText)
        {
            if (!long.TryParse(timeoutText, NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
            {
                throw MatrixException.InvalidParam("timeout must be a number of milliseconds");
            }

            timeout = TimeSpan.FromMilliseconds(Math.Min(ms, (long)MaxTimeout.TotalMilliseconds));
        }

        var fullState = query["full_state"].ToString() switch
        {
            "" or "false" => false,
            "true" => true,
            _ => throw MatrixException.InvalidParam("full_state must be true or false"),
        };

        var filter = await ReadFilterAsync(http, auth, query["filter"].ToString(), ct);
        var json = await sync.SyncAsync(auth.Requester, new SyncRequest(since, timeout, fullState, filter), ct);
        return JsonResults.Raw(json);
    }

    private static async Task<SyncFilter> ReadFilterAsync(HttpContext http, Authed auth, string filterParam, CancellationToken ct)
    {
        if (filterParam.Length == 0)
        {
            return SyncFilter.Default;
        }

        JsonElement definition;
        if (filterParam.TrimStart().StartsWith('{'))
        {
            try
            {
                using var doc = JsonDocument.Parse(filterParam);
                definition = doc.RootElement.Clone();
            }
            catch (JsonException)
            {
                throw MatrixException.NotJson("filter is not valid JSON");
            }
        }
        else
        {
            var lookup = http.RequestServices.GetService<IFilterLookup>() ?? throw MatrixException.NotFound("No such filter");
            definition = await lookup.GetFilterAsync(auth.UserId, filterParam, ct) ?? throw MatrixException.NotFound("No such filter");
        }

        if (definition.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("filter must be an object");
        }

        return SyncFilter.Parse(definition);
    }
}
