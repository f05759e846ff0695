using System.Globalization;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Http;
using Homeserver.Sync;
using Homeserver.Sync.Presence;
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
        if (query.ContainsKey("from"))
        {
            // /events used 'from'; /sync uses 'since' (as Synapse, say so rather than ignore it).
            throw MatrixException.InvalidParam("'from' is not a valid query parameter. Did you mean 'since'?");
        }

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

        var timeout = ParseTimeout(query["timeout"].ToString(), TimeSpan.Zero);
        var fullState = query["full_state"].ToString() switch
        {
            "" or "false" => false,
            "true" => true,
            _ => throw MatrixException.InvalidParam("full_state must be true or false"),
        };

        var setPresence = ParseSetPresence(query["set_presence"].ToString());
        var filter = await ReadFilterAsync(http, auth, query["filter"].ToString(), ct);
        var json = await sync.SyncAsync(auth.Requester, new SyncRequest(since, timeout, fullState, filter, setPresence), ct);
        return JsonResults.Raw(json);
    }

    /// <summary>A <c>timeout</c> in milliseconds, capped at <see cref="MaxTimeout"/>.</summary>
    internal static TimeSpan ParseTimeout(string text, TimeSpan fallback)
    {
        if (text.Length == 0)
        {
            return fallback;
        }

        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ms) || ms < 0)
        {
            throw MatrixException.InvalidParam("timeout must be a non-negative number of milliseconds");
        }

        return TimeSpan.FromMilliseconds(Math.Min(ms, (long)MaxTimeout.TotalMilliseconds));
    }

    /// <summary><c>set_presence</c>: online (the default), unavailable or offline.</summary>
    internal static string ParseSetPresence(string text) => text switch
    {
        "" => PresenceStates.Online,
        PresenceStates.Online or PresenceStates.Unavailable or PresenceStates.Offline => text,
        _ => throw MatrixException.InvalidParam("set_presence must be one of online, unavailable, offline"),
    };

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
                using var doc = JsonDocument.Parse(filterParam, new JsonDocumentOptions { MaxDepth = 64 });
                definition = doc.RootElement.Clone();
            }
            catch (JsonException)
            {
                throw MatrixException.NotJson("filter is not valid JSON");
            }
        }
        else
        {
            // As Synapse: an unknown filter ID is M_INVALID_PARAM.
            var lookup = http.RequestServices.GetService<IFilterLookup>() ?? throw MatrixException.InvalidParam("No such filter");
            definition = await lookup.GetFilterAsync(auth.UserId, filterParam, ct) ?? throw MatrixException.InvalidParam("No such filter");
        }

        return SyncFilter.Parse(definition);
    }
}
