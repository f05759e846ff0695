using Homeserver.Core;
using Homeserver.Federation;
using Homeserver.Rooms.Relations;
using Homeserver.Rooms.Search;
using Homeserver.Rooms.Services;
using Homeserver.Rooms.Writing;
using Homeserver.Storage;

namespace Homeserver.Host;

/// <summary>
/// The room features beyond the core (aliases, directory, relations, context, search, upgrades, spaces, reports,
/// ignored users, profile propagation, restricted joins, server ACLs): their services and repositories, in one place.
/// </summary>
public static class RoomFeatureServices
{
    public static IServiceCollection AddRoomFeatures(this IServiceCollection services)
    {
        services.AddRoomFeatureStorage();
        services.AddSingleton<RestrictedJoins>();
        services.AddSingleton<ServerAcls>();
        services.AddSingleton<IgnoredUsers>();
        services.AddSingleton<RoomAliases>();
        services.AddSingleton<RoomDescriptions>();
        services.AddSingleton<IRemotePublicRooms, RemotePublicRooms>();
        services.AddSingleton<PublicRoomList>();
        services.AddSingleton<SpaceHierarchy>();
        services.AddSingleton<RelationReader>();
        services.AddSingleton<ContentReports>();
        services.AddSingleton<RoomUpgrader>();
        services.AddSingleton<SearchIndexer>();
        services.AddSingleton<IRoomCommitListener>(sp => sp.GetRequiredService<SearchIndexer>());
        services.AddHostedService<SearchIndexerService>();
        services.AddSingleton<RoomSearch>();
        services.AddSingleton<ProfilePropagation>();
        services.AddSingleton<IProfileChangeListener>(sp => sp.GetRequiredService<ProfilePropagation>());
        services.AddSingleton<GuestAccessChanges>();
        services.AddSingleton<IRoomEventListener>(sp => sp.GetRequiredService<GuestAccessChanges>());
        services.AddSingleton<GuestAccessEnforcer>();
        services.AddHostedService<GuestAccessService>();
        return services;
    }

    /// <summary>
    /// Runs <see cref="SearchIndexer"/> for the server's lifetime; on stop, lets it write what is queued first (bounded:
    /// what is left is written by its recovery at the next start).
    /// </summary>
    private sealed class SearchIndexerService(SearchIndexer indexer) : IHostedService
    {
        private static readonly TimeSpan DrainWait = TimeSpan.FromSeconds(10);

        private readonly CancellationTokenSource _stop = new();
        private Task? _running;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _running = Task.Run(() => indexer.RunAsync(_stop.Token), CancellationToken.None);
            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            try
            {
                await indexer.WaitForAsync(long.MaxValue, DrainWait, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // The host's own shutdown timeout came first.
            }

            await _stop.CancelAsync();
            if (_running is not null)
            {
                await _running;
            }

            _stop.Dispose();
        }
    }

    /// <summary>Runs <see cref="GuestAccessEnforcer"/> for the server's lifetime.</summary>
    private sealed class GuestAccessService(GuestAccessEnforcer enforcer) : BackgroundService
    {
        protected override Task ExecuteAsync(CancellationToken stoppingToken) => enforcer.RunAsync(stoppingToken);
    }
}
