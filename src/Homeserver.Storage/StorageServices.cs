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
        services.AddSingleton(_ => new NpgsqlDataSourceBuilder(WithStatementReuse(connectionString)).Build());
        services.AddSingleton<MigrationRunner>();
        services.AddSingleton<IAccountStore, AccountRepository>();
        services.AddSingleton<ISessionStore, SessionRepository>();
        services.AddSingleton<StateKeyInterner>();
        services.AddSingleton<EventNidCache>();
        services.AddSingleton<EventNidAllocator>();
        services.AddSingleton<RoomNewsTracker>();
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

    /// <summary>
    /// The server runs the same few hundred statements all day, so parsing and planning each one on every call is
    /// waste (it was about half of a message send's time in PostgreSQL): statements used twice are prepared on their
    /// connection and kept. That only pays if the connection keeps them, so the pool does not send DISCARD ALL when a
    /// connection is returned; nothing here leaves session state behind (no SET, temporary tables, LISTEN or advisory
    /// locks outside a transaction). An operator's own values in the connection string win.
    /// </summary>
    public static string WithStatementReuse(string connectionString)
    {
        // NpgsqlConnectionStringBuilder.ContainsKey answers whether a keyword exists at all, not whether it was given,
        // so what the operator wrote is read with the plain builder (keywords compared without spaces or case).
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys
            .Cast<string>()
            .Select(key => key.Replace(" ", string.Empty, StringComparison.Ordinal))
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!given.Contains("MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = 256;
        }

        if (!given.Contains("AutoPrepareMinUsages"))
        {
            builder.AutoPrepareMinUsages = 2;
        }

        if (!given.Contains("NoResetOnClose"))
        {
            builder.NoResetOnClose = true;
        }

        return builder.ConnectionString;
    }
}
