using System.Globalization;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Federation.Keys;
using Homeserver.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.Federation;

/// <summary>Publishing our server keys (server-server API, "Retrieving server keys").</summary>
public static class ServerKeyEndpoints
{
    public static IEndpointRouteBuilder MapServerKeyEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/_matrix/key/v2/server", GetServerKeys);

        // The deprecated form with a key ID is still used by some peers (SyTest's fake servers among them).
        app.MapGet("/_matrix/key/v2/server/{keyId}", GetServerKeys);

        app.MapGet("/_matrix/key/v2/query/{serverName}", QueryOneServer);
        app.MapGet("/_matrix/key/v2/query/{serverName}/{keyId}", QueryOneServer);
        app.MapPost("/_matrix/key/v2/query", Query);
        return app;
    }

    /// <summary>
    /// GET /_matrix/key/v2/query/{serverName} — another server's keys through us, as notary (the form with a key ID
    /// is the deprecated one SyTest still uses).
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixkeyv2queryservername
    /// </summary>
    private static async Task<IResult> QueryOneServer(HttpContext http, KeyNotary notary, string serverName, string? keyId, CancellationToken ct)
    {
        long? minimum = null;
        if (http.Request.Query["minimum_valid_until_ts"].ToString() is { Length: > 0 } text)
        {
            minimum = long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var ts)
                ? ts
                : throw MatrixException.InvalidParam("minimum_valid_until_ts must be an integer");
        }

        var criteria = keyId is null
            ? new KeyCriteria(new Dictionary<string, long?>(), minimum)
            : new KeyCriteria(new Dictionary<string, long?> { [keyId] = minimum }, null);
        var keys = await notary.QueryAsync(new Dictionary<string, KeyCriteria> { [serverName] = criteria }, ct);
        return JsonResults.Node(new JsonObject { ["server_keys"] = keys });
    }

    /// <summary>
    /// POST /_matrix/key/v2/query — several servers' keys through us, as notary.
    /// https://spec.matrix.org/v1.19/server-server-api/#post_matrixkeyv2query
    /// </summary>
    private static async Task<IResult> Query(HttpContext http, KeyNotary notary, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var query = KeyNotary.ParseQuery(body) ?? throw MatrixException.BadJson("server_keys must map server names to maps of key IDs to criteria");
        var keys = await notary.QueryAsync(query, ct);
        return JsonResults.Node(new JsonObject { ["server_keys"] = keys });
    }

    /// <summary>
    /// GET /_matrix/key/v2/server — our current verify key and old keys, signed by ourselves.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixkeyv2server
    /// </summary>
    private static IResult GetServerKeys(ServerKeys keys, TimeProvider time) =>
        JsonResults.Node(keys.BuildKeyDocument(time.GetUtcNow()));
}

/// <summary>Federation version reporting.</summary>
public static class FederationVersionEndpoints
{
    public static IEndpointRouteBuilder MapFederationVersionEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/_matrix/federation/v1/version", GetVersion);
        return app;
    }

    /// <summary>
    /// GET /_matrix/federation/v1/version — the name and version of this server software.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1version
    /// </summary>
    private static IResult GetVersion() => JsonResults.Node(new JsonObject
    {
        ["server"] = new JsonObject
        {
            ["name"] = "Homeserver",
            ["version"] = typeof(FederationVersionEndpoints).Assembly.GetName().Version?.ToString(3) ?? "0.1.0",
        },
    });
}

/// <summary>Server discovery for other homeservers (server-server API, "Resolving server names").</summary>
public static class ServerWellKnownEndpoints
{
    public static IEndpointRouteBuilder MapServerWellKnownEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/.well-known/matrix/server", GetServerWellKnown);
        return app;
    }

    /// <summary>
    /// GET /.well-known/matrix/server — where other servers reach our federation API, when configured.
    /// https://spec.matrix.org/v1.19/server-server-api/#getwell-knownmatrixserver
    /// </summary>
    private static IResult GetServerWellKnown(Homeserver.Core.Configuration.HomeserverConfig config) =>
        config.ServeServerWellKnown is { } delegated
            ? JsonResults.Node(new JsonObject { ["m.server"] = delegated })
            : throw Homeserver.Core.MatrixException.NotFound("No .well-known/matrix/server is served by this server");
}
