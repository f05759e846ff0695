using Homeserver.Media;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.Storage.Media;

/// <summary>Registers the content repository's metadata repository.</summary>
public static class MediaStorageServices
{
    public static IServiceCollection AddMediaStorage(this IServiceCollection services)
    {
        services.AddSingleton<IMediaStore, MediaRepository>();
        return services;
    }
}
