using Homeserver.Users;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.Storage.Users;

/// <summary>Registers the repositories behind the accounts ports of Homeserver.Users.</summary>
public static class AccountStorageServices
{
    public static IServiceCollection AddAccountStorage(this IServiceCollection services)
    {
        // IAccountStore and ISessionStore are registered by AddStorage.
        services.AddSingleton<ITokenStore, TokenRepository>();
        services.AddSingleton<IRegistrationTokenStore, RegistrationTokenRepository>();
        services.AddSingleton<IAccountDataStore, AccountDataRepository>();
        services.AddSingleton<IFilterStore, FilterRepository>();
        services.AddSingleton<IThreepidStore, ThreepidRepository>();
        services.AddSingleton<IUserDirectoryStore, UserDirectoryRepository>();
        services.AddSingleton<StreamPositionsSeeder>();
        return services;
    }
}
