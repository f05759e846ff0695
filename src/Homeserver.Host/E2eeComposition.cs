using Homeserver.E2ee;
using Homeserver.Storage.E2ee;

namespace Homeserver.Host;

/// <summary>Composes the E2EE module: its domain services, its repositories, and its contribution to /sync.</summary>
internal static class E2eeComposition
{
    public static IServiceCollection AddE2ee(this IServiceCollection services, E2eeOptions? options = null) =>
        services.AddE2eeStorage().AddE2eeServices(options);

    /// <summary>Moves the stream allocator past the positions used by the E2EE tables (to-device messages, device list changes).</summary>
    public static async Task SeedStreamPositionsAsync(IServiceProvider services, CancellationToken ct)
    {
        var max = await services.GetRequiredService<IE2eeStreamPositions>().GetMaxStreamPositionAsync(ct);
        services.GetRequiredService<Homeserver.Core.Streams.StreamPositions>().Seed(max);
    }
}
