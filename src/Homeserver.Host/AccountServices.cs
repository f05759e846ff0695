using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.RateLimiting;
using Homeserver.Core.Streams;
using Homeserver.Http;
using Homeserver.Storage;
using Homeserver.Storage.Users;
using Homeserver.Users;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Homeserver.Host;

/// <summary>The composition of accounts, sessions, devices, profiles and account data (issue 3).</summary>
internal static class AccountServices
{
    public static IServiceCollection AddAccountServices(this IServiceCollection services, HomeserverConfig config)
    {
        services.AddAccountStorage();
        services.AddSingleton(config.PasswordHashing);
        services.AddSingleton(config.RateLimits);
        services.AddSingleton<RateLimiter>();
        services.AddSingleton<ClientAddress>();
        services.TryAddSingleton(new TokenCacheOptions());
        services.AddSingleton<PasswordHasher>();
        services.AddSingleton<TokenAuthenticator>();
        services.AddSingleton<LastSeenTracker>();
        services.AddSingleton<SessionService>();
        services.AddSingleton<AccountService>();
        services.AddSingleton<LoginService>();
        services.AddSingleton<UserInteractiveAuth>();
        services.AddSingleton<RegistrationTokenService>();
        services.AddSingleton<RegistrationService>();
        services.AddSingleton<SharedSecretRegistration>();
        services.AddSingleton<ProfileService>();

        // The federation work replaces this with a provider that asks the user's server.
        services.TryAddSingleton<IRemoteProfileProvider, NoRemoteProfiles>();
        services.AddSingleton<AccountDataService>();
        services.AddSingleton<IRoomSuccessionListener, RoomSuccessionUserState>();
        services.AddSingleton<FilterService>();
        services.AddSingleton<UserDirectoryService>();
        services.AddSingleton<OpenIdService>();
        services.AddSingleton<TurnService>();
        services.AddSingleton<ThreepidService>();
        services.AddHostedService<LastSeenFlusher>();
        return services;
    }
}

/// <summary>Writes the devices' last-seen data to the database every <see cref="LastSeenTracker.FlushInterval"/> and at shutdown.</summary>
internal sealed partial class LastSeenFlusher(LastSeenTracker tracker, ILogger<LastSeenFlusher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(LastSeenTracker.FlushInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: the final flush follows in StopAsync.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(cancellationToken);
    }

    private async Task FlushAsync(CancellationToken ct)
    {
        try
        {
            await tracker.FlushAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The records stay pending and are tried again at the next tick.
            LogFlushFailed(e, tracker.PendingCount);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write the last-seen data of {Count} devices; will retry")]
    private partial void LogFlushFailed(Exception e, int count);
}

/// <summary>
/// Seeds <see cref="StreamPositions"/> from the database before any hosted service starts or any request is served
/// (the migrations have run by then: Program and the tests migrate before starting the host).
/// </summary>
internal sealed partial class StreamPositionsStartup(StreamPositions positions, StreamPositionsSeeder seeder, ILogger<StreamPositionsStartup> logger) : IHostedLifecycleService
{
    public async Task StartingAsync(CancellationToken cancellationToken) => LogSeeded(await seeder.SeedAsync(positions, cancellationToken));

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Stream positions continue after {Position}")]
    private partial void LogSeeded(long position);
}
