using Homeserver.E2ee;
using Homeserver.Storage.E2ee;

namespace Homeserver.Host;

/// <summary>Composes the E2EE module: its domain services, its repositories, and its contribution to /sync and its sliding sync extensions (to_device, e2ee).</summary>
internal static class E2eeComposition
{
    public static IServiceCollection AddE2ee(this IServiceCollection services, E2eeOptions? options = null) =>
        services.AddE2eeStorage().AddE2eeServices(options);
}
