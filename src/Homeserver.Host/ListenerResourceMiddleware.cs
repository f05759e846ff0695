using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Http;

namespace Homeserver.Host;

/// <summary>
/// Each listener serves only the resources its configuration names (client, federation, keys, media...),
/// so that e.g. the federation API can be kept off a listener that faces clients.
/// </summary>
internal sealed class ListenerResourceMiddleware
{
    private readonly RequestDelegate _next;
    private readonly Dictionary<int, IReadOnlySet<string>> _resourcesByPort;

    public ListenerResourceMiddleware(RequestDelegate next, HomeserverConfig config)
    {
        _next = next;
        _resourcesByPort = [];
        foreach (var listener in config.Listeners)
        {
            _resourcesByPort[listener.Port] = listener.Resources;
        }
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (!_resourcesByPort.TryGetValue(context.Connection.LocalPort, out var resources))
        {
            // Not one of our configured ports (e.g. an in-memory test server): serve everything.
            return _next(context);
        }

        var resource = ResourceOf(context.Request.Path);
        if (resource is not null && !resources.Contains(resource))
        {
            return MatrixErrorMiddleware.WriteAsync(context, new MatrixException(MatrixErrorCode.Unrecognized, 404, "Unrecognized request"));
        }

        return _next(context);
    }

    internal static string? ResourceOf(PathString path)
    {
        if (path.StartsWithSegments("/_matrix/client") || path.StartsWithSegments("/_synapse"))
        {
            return "client";
        }

        // Synapse serves OpenID verification on its own "openid" resource (implied by "federation").
        if (path.StartsWithSegments("/_matrix/federation/v1/openid"))
        {
            return "openid";
        }

        if (path.StartsWithSegments("/_matrix/federation"))
        {
            return "federation";
        }

        if (path.StartsWithSegments("/_matrix/key"))
        {
            return "keys";
        }

        if (path.StartsWithSegments("/_matrix/media"))
        {
            return "media";
        }

        if (path.StartsWithSegments("/.well-known/matrix/client"))
        {
            return "well_known";
        }

        if (path.StartsWithSegments("/.well-known/matrix/server"))
        {
            return "federation";
        }

        return null;
    }
}
