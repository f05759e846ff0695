using Homeserver.Push;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.Storage.Push;

/// <summary>Registers the push repositories (rules, notifications, pushers).</summary>
public static class PushStorageServices
{
    public static IServiceCollection AddPushStorage(this IServiceCollection services)
    {
        services.AddSingleton<IPushRuleStore, PushRuleRepository>();
        services.AddSingleton<INotificationStore, NotificationRepository>();
        services.AddSingleton<IPusherStore, PusherRepository>();
        return services;
    }
}
