using System.Text.Json.Nodes;
using Homeserver.Core.Configuration;
using Homeserver.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Server discovery and version negotiation (client-server API, "Server Discovery" and "API Standards").</summary>
public static class ServerDiscoveryEndpoints
{
    /// <summary>The client-server spec versions we implement.</summary>
    public static readonly IReadOnlyList<string> SupportedVersions =
    [
        "r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1",
        "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12",
    ];

    public static IEndpointRouteBuilder MapServerDiscoveryEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/_matrix/client/versions", GetVersions);
        app.MapGet("/.well-known/matrix/client", GetClientWellKnown);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/versions — the spec versions and unstable features we support.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientversions
    /// </summary>
    private static IResult GetVersions(UnstableFeatures unstable)
    {
        var features = new JsonObject();
        foreach (var (name, on) in unstable.Features)
        {
            features[name] = on;
        }

        return JsonResults.Node(new JsonObject
        {
            ["versions"] = new JsonArray([.. SupportedVersions.Select(v => (JsonNode)JsonValue.Create(v))]),
            ["unstable_features"] = features,
        });
    }

    /// <summary>
    /// GET /.well-known/matrix/client — where clients find our client-server API.
    /// https://spec.matrix.org/v1.19/client-server-api/#getwell-knownmatrixclient
    /// </summary>
    private static IResult GetClientWellKnown(HomeserverConfig config) => JsonResults.Node(new JsonObject
    {
        ["m.homeserver"] = new JsonObject { ["base_url"] = config.PublicBaseUrl.AbsoluteUri.TrimEnd('/') },
    });
}

/// <summary>The <c>unstable_features</c> of <c>/versions</c>: each module adds the MSCs it implements.</summary>
public sealed class UnstableFeatures
{
    private readonly SortedDictionary<string, bool> _features = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, bool> Features => _features;

    public UnstableFeatures Add(string name, bool enabled = true)
    {
        _features[name] = enabled;
        return this;
    }
}
