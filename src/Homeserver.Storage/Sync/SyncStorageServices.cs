using Homeserver.Core.Streams;
using Homeserver.Sync;
using Homeserver.Sync.Presence;
using Homeserver.Sync.Receipts;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.Storage.Sync;

/// <summary>Registers the repositories behind sync's ports: batched room reads, receipts, presence, read markers and filters.</summary>
public static class SyncStorageServices
{
    public static IServiceCollection AddSyncStorage(this IServiceCollection services)
    {
        services.AddSingleton<ISyncRoomStore, SyncRoomRepository>();
        services.AddSingleton<ReceiptRepository>();
        services.AddSingleton<IReceiptStore>(sp => sp.GetRequiredService<ReceiptRepository>());
        services.AddSingleton<PresenceRepository>();
        services.AddSingleton<IPresenceStore>(sp => sp.GetRequiredService<PresenceRepository>());
        services.AddSingleton<IReadMarkerStore, ReadMarkerRepository>();
        services.AddSingleton<IFilterLookup, FilterRepository>();
        return services;
    }
}
