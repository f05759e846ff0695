using Homeserver.Core;
using Homeserver.E2ee.Backup;
using Homeserver.E2ee.CrossSigning;
using Homeserver.E2ee.Dehydration;
using Homeserver.E2ee.DeviceLists;
using Homeserver.E2ee.Keys;
using Homeserver.E2ee.Sync;
using Homeserver.E2ee.ToDevice;
using Homeserver.Sync;
using Homeserver.Sync.SlidingSync;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.E2ee;

/// <summary>Registers the E2EE domain services (storage comes from Homeserver.Storage's <c>AddE2eeStorage</c>).</summary>
public static class E2eeServices
{
    public static IServiceCollection AddE2eeServices(this IServiceCollection services, E2eeOptions? options = null)
    {
        services.AddSingleton(options ?? new E2eeOptions());
        services.AddSingleton<DeviceListService>();
        services.AddSingleton<IDeviceListNotifier>(sp => sp.GetRequiredService<DeviceListService>());
        services.AddSingleton<E2eeKeyService>();
        services.AddSingleton<CrossSigningService>();
        services.AddSingleton<ToDeviceService>();
        services.AddSingleton<KeyBackupService>();
        services.AddSingleton<DehydratedDeviceService>();
        services.AddSingleton<ISyncSection, E2eeSyncSection>();
        services.AddSingleton<ISlidingSyncExtension, ToDeviceExtension>();
        services.AddSingleton<ISlidingSyncExtension, E2eeExtension>();
        return services;
    }
}
