using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.ClientApi;

/// <summary>Every endpoint of the E2EE module: keys and cross-signing, send-to-device, key backup, dehydrated devices.</summary>
public static class E2eeEndpoints
{
    public static IEndpointRouteBuilder MapE2eeEndpoints(this IEndpointRouteBuilder app)
    {
        // Advertised in /versions as Synapse does: cross-signing (for clients that still check the MSC1756 flag) and
        // dehydrated devices (MSC3814).
        app.ServiceProvider.GetService<UnstableFeatures>()?.Add("org.matrix.e2e_cross_signing").Add("org.matrix.msc3814");
        return app
            .MapE2eeKeyEndpoints()
            .MapE2eeToDeviceEndpoints()
            .MapE2eeKeyBackupEndpoints()
            .MapE2eeDehydratedDeviceEndpoints();
    }
}
