using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Search;
using Homeserver.Storage.RoomFeatures;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.Storage;

/// <summary>Registers the repositories of the room features (relations, search, directory descriptions, reports).</summary>
public static class RoomFeatureStorage
{
    public static IServiceCollection AddRoomFeatureStorage(this IServiceCollection services)
    {
        services.AddSingleton<IRelationStore, RelationRepository>();
        services.AddSingleton<IRoomFeatureStore, RoomFeatureRepository>();
        services.AddSingleton<IIgnoredUsersStore, IgnoredUsersRepository>();
        services.AddSingleton<ISearchStore, SearchRepository>();
        services.AddSingleton<ISearchIndexStore, SearchIndexRepository>();
        return services;
    }
}
