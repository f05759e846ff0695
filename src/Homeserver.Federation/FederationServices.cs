using Homeserver.Core.Federation;
using Homeserver.Federation.Client;
using Homeserver.Federation.Events;
using Homeserver.Federation.Keys;
using Homeserver.Federation.Rooms;
using Homeserver.Federation.Sending;
using Homeserver.Rooms.Services;
using Homeserver.Rooms.Writing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Homeserver.Federation;

/// <summary>Registers the federation module: discovery, transport, keys, receiving, membership handshakes and the sender.</summary>
public static class FederationServices
{
    public static IServiceCollection AddFederation(this IServiceCollection services)
    {
        services.AddSingleton<IFederationDns, SystemFederationDns>();
        services.AddSingleton<FederationTransport>();
        services.AddSingleton<IWellKnownFetcher, WellKnownFetcher>();
        services.AddSingleton<ServerDiscovery>();
        services.AddSingleton<FederationClient>();
        services.AddSingleton<KeyRing>();
        services.AddSingleton<PduVerifier>();
        services.AddSingleton<FederationRoomReader>();
        services.AddSingleton<FederationMembershipHandler>();
        services.AddSingleton<FederationEventHandler>();
        services.AddSingleton<TransactionDeduplicator>();
        services.AddSingleton<FederationSender>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<FederationSender>());
        services.AddSingleton<IRoomEventListener>(sp => sp.GetRequiredService<FederationSender>());
        services.AddSingleton<IEduSender>(sp => sp.GetRequiredService<FederationSender>());
        services.AddSingleton<IRemoteMembership, RemoteMembership>();
        services.AddSingleton<IRemoteAliasResolver, RemoteAliasResolver>();
        return services;
    }
}
