using Homeserver.Core.Federation;
using Homeserver.Crypto.KeyRing;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;
using Homeserver.Storage.Federation;
using Homeserver.Storage.Rooms;
using Homeserver.Storage.Sync;
using Homeserver.Storage.Users;
using Homeserver.Sync;
using Homeserver.Users;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Homeserver.Storage;

/// <summary>Registers the repositories that implement the domain projects' ports.</summary>
public static class StorageServices
{
    public static IServiceCollection AddStorage(this IServiceCollection services, string connectionString)
    {
        services.AddSingleton(_ => new NpgsqlDataSourceBuilder(connectionString).Build());
        services.AddSingleton<MigrationRunner>();
        services.AddSingleton<IAccountStore, AccountRepository>();
        services.AddSingleton<ISessionStore, SessionRepository>();
        services.AddSingleton<StateKeyInterner>();
        services.AddSingleton<EventNidCache>();
        services.AddSingleton<EventNidAllocator>();
        services.AddSingleton<StateSnapshotStore>();
        services.AddSingleton<StateTranslator>();
        services.AddSingleton<IRoomStore, RoomRepository>();
        services.AddSingleton<IRoomReadStore, RoomReadRepository>();
        services.AddSingleton<IRoomDirectoryStore, RoomDirectoryRepository>();
        services.AddSingleton<ISyncDataStore, SyncDataRepository>();
        services.AddSingleton<IServerKeyStore, ServerKeyRepository>();
        services.AddSingleton<IFederationSenderStore, FederationSenderRepository>();
        services.AddSingleton<IRemoteDeviceListStore, RemoteDeviceListRepository>();
        return services;
    }
}
