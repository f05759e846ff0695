using Homeserver.E2ee;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.Storage.E2ee;

/// <summary>Registers the repositories behind the E2EE module's ports.</summary>
public static class E2eeStorageServices
{
    public static IServiceCollection AddE2eeStorage(this IServiceCollection services)
    {
        services.AddSingleton<IDeviceKeyStore, DeviceKeyRepository>();
        services.AddSingleton<ICrossSigningStore, CrossSigningRepository>();
        services.AddSingleton<DeviceListRepository>();
        services.AddSingleton<IDeviceListStore>(sp => sp.GetRequiredService<DeviceListRepository>());
        services.AddSingleton<IToDeviceStore, ToDeviceRepository>();
        services.AddSingleton<IKeyBackupStore, KeyBackupRepository>();
        services.AddSingleton<IDehydratedDeviceStore, DehydratedDeviceRepository>();
        return services;
    }
}
