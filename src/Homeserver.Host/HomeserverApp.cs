using System.Net;
using System.Security.Cryptography.X509Certificates;
using Homeserver.ClientApi;
using Homeserver.Core.Configuration;
using Homeserver.Crypto;
using Homeserver.Federation;
using Homeserver.Federation.E2ee;
using Homeserver.Http;
using Homeserver.Storage;
using Homeserver.Storage.Sync;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.Services;
using Homeserver.Rooms.Writing;
using Homeserver.Sync;

namespace Homeserver.Host;

/// <summary>
/// Composes the server: services, Kestrel listeners and the endpoint map. Used by <see cref="Program"/>
/// and by the integration tests, which start a real Kestrel on loopback against a real database.
/// </summary>
public static partial class HomeserverApp
{
    /// <param name="configureServices">Lets benchmarks and tests replace services (e.g. the token cache options).</param>
    public static WebApplication Build(
        HomeserverConfig config, string connectionString, Ed25519SigningKey signingKey, Action<ILoggingBuilder>? logging = null, Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "Homeserver" });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        if (logging is null)
        {
            Logging.Configure(builder.Logging, config.Logging);
        }
        else
        {
            logging(builder.Logging);
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = Math.Max(config.MaxUploadSize, JsonBody.DefaultMaxBytes) + 64 * 1024;
            X509Certificate2? certificate = null;
            foreach (var listener in config.Listeners)
            {
                if (listener.Tls && certificate is null)
                {
                    certificate = X509Certificate2.CreateFromPemFile(config.TlsCertificatePath!, config.TlsPrivateKeyPath);
                }

                foreach (var address in listener.BindAddresses)
                {
                    void Configure(ListenOptions options)
                    {
                        options.Protocols = listener.Tls ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1;
                        if (listener.Tls)
                        {
                            options.UseHttps(certificate!);
                        }
                    }

                    switch (address)
                    {
                        case "localhost":
                            kestrel.ListenLocalhost(listener.Port, Configure);
                            break;
                        case "*":
                            kestrel.ListenAnyIP(listener.Port, Configure);
                            break;
                        default:
                            kestrel.Listen(IPAddress.Parse(address), listener.Port, Configure);
                            break;
                    }
                }
            }
        });

        var services = builder.Services;
        services.AddSingleton(config);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(signingKey);
        services.AddSingleton(new ServerKeys(config.ServerName, signingKey, config.OldSigningKeys, config.KeyRefreshInterval));
        services.AddStorage(connectionString);
        services.AddSingleton(sp => new StreamPositions(0, sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<StreamPositionsStartup>();
        services.AddAccountServices(config);

        // Rooms: one writer per room, the event cache, reading and the directory.
        services.AddSingleton(new EventCache());
        services.AddSingleton<EventLookup>();
        services.AddSingleton(new EventFactory(config.ServerName, signingKey));
        services.AddSingleton<RoomWriter>();
        services.AddSingleton<IProfileLookup, ProfileLookup>();
        services.AddSingleton<RoomDirectory>();
        services.AddSingleton<RoomService>();
        services.AddSingleton<ErasedUsers>();
        services.AddSingleton<IErasedUsers>(sp => sp.GetRequiredService<ErasedUsers>());
        services.AddSingleton<Homeserver.Users.IAccountDeactivationListener>(sp => sp.GetRequiredService<ErasedUsers>());
        services.AddSingleton<HistoryVisibility>();
        services.AddSingleton<ClientEventLoader>();
        services.AddSingleton<RoomReader>();
        services.AddRoomFeatures();

        // Sync, its wake-ups and the ephemeral streams (typing, receipts, presence).
        services.AddSyncStorage();
        services.AddSync();

        services.AddFederation();
        // Registered before the E2EE notifier, which stays the one a single IDeviceListNotifier resolves to.
        services.AddSingleton<Homeserver.Core.IDeviceListNotifier, PusherDeviceCleanup>();
        services.AddE2ee(new Homeserver.E2ee.E2eeOptions
        {
            RequireSelfSignedKeys = config.RequireSelfSignedDeviceKeys,
            ShareDeviceNamesOverFederation = config.AllowDeviceNameLookupOverFederation,
        });
        services.AddSingleton<Homeserver.Users.IAccountDeactivationListener, DeactivatedUserRooms>();
        services.AddSingleton(new UnstableFeatures());
        services.AddPushModule(config);
        services.AddMediaModule(config);
        services.AddRouting();
        configureServices?.Invoke(services);

        var app = builder.Build();
        app.UseMiddleware<CorsMiddleware>();
        app.UseMiddleware<MatrixErrorMiddleware>();
        app.UseMiddleware<ListenerResourceMiddleware>();
        app.UseRouting();

        app.MapServerDiscoveryEndpoints();
        app.MapAllAccountEndpoints();
        app.MapOpenIdUserInfoEndpoints();
        app.MapRoomEndpoints();
        app.MapMembershipEndpoints();
        app.MapRoomReadEndpoints();
        app.MapRoomFeatureEndpoints();
        app.MapSyncEndpoints();
        app.MapEphemeralEndpoints();
        app.MapPresenceEndpoints();
        app.MapSlidingSyncEndpoints();
        app.MapLegacySyncEndpoints();
        app.MapE2eeEndpoints();
        app.MapPushModule();
        app.MapMediaModule();
        app.MapServerKeyEndpoints();
        app.MapFederationVersionEndpoints();
        app.MapServerWellKnownEndpoints();
        app.MapFederationEndpoints();
        app.MapFederationQueryEndpoints();
        app.MapFederationDirectoryEndpoints();
        app.MapFederationUserKeysEndpoints();
        return app;
    }

    /// <summary>
    /// Brings the database up to date and warns of database settings that put committed writes at risk; run before the
    /// host starts (which seeds the stream positions, then listens).
    /// </summary>
    public static async Task PrepareAsync(WebApplication app, CancellationToken ct)
    {
        await app.Services.GetRequiredService<MigrationRunner>().MigrateAsync(ct);
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(DatabaseDurability).FullName!);
        foreach (var risk in await DatabaseDurability.FindRisksAsync(app.Services.GetRequiredService<Npgsql.NpgsqlDataSource>(), ct))
        {
            LogDurabilityRisk(log, risk);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Database: {Risk}")]
    private static partial void LogDurabilityRisk(ILogger logger, string risk);
}
