using Homeserver.ClientApi;
using Homeserver.Core.Configuration;
using Homeserver.Federation;
using Homeserver.Media;
using Homeserver.Storage.Media;

namespace Homeserver.Host;

/// <summary>
/// Composes the content repository: the content store on disk, metadata storage, the media service, URL previews,
/// the retention job and the endpoints (client, deprecated media, and federation serving).
/// </summary>
internal static partial class MediaModule
{
    public static IServiceCollection AddMediaModule(this IServiceCollection services, HomeserverConfig config)
    {
        services.AddMediaStorage();
        services.AddSingleton(_ => new ContentStore(config.MediaStorePath));

        // Replaced by the federation module's fetcher (registered after this one) once remote media can be fetched.
        services.AddSingleton<IRemoteMediaFetcher, Homeserver.Federation.RemoteMediaFetcher>();
        services.AddSingleton<MediaService>();
        services.AddSingleton<UrlPreviewer>();
        services.AddHostedService<MediaRetentionService>();
        return services;
    }

    public static IEndpointRouteBuilder MapMediaModule(this IEndpointRouteBuilder app)
    {
        app.MapMediaEndpoints();

        // Federation media serving (X-Matrix authenticated through the FederationRequest binding).
        app.MapFederationMediaEndpoints();
        return app;
    }

    /// <summary>Hourly: media_retention, expired asynchronous uploads and URL previews.</summary>
    private sealed partial class MediaRetentionService(MediaService media, ILogger<MediaRetentionService> logger) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromHours(1), stoppingToken);
                    LogPurged(await media.PurgeAsync(stoppingToken));
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception e)
                {
                    LogFailed(e);
                }
            }
        }

        [LoggerMessage(Level = LogLevel.Information, Message = "Media retention: {Count} files deleted")]
        private partial void LogPurged(int count);

        [LoggerMessage(Level = LogLevel.Error, Message = "Media retention failed")]
        private partial void LogFailed(Exception e);
    }
}
