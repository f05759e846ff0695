using Homeserver.Core.Federation;
using Homeserver.E2ee;
using Homeserver.Federation.Client;
using Homeserver.Federation.E2ee;
using Homeserver.Federation.Events;
using Homeserver.Federation.Keys;
using Homeserver.Federation.Rooms;
using Homeserver.Federation.Sending;
using Homeserver.Rooms.Services;
using Homeserver.Rooms.Writing;
using Homeserver.Users;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Homeserver.Federation;

/// <summary>Registers the federation module: discovery, transport, keys, receiving, membership handshakes and the sender.</summary>
public static class FederationServices
{
    public static IServiceCollection AddFederation(this IServiceCollection services)
    {
        services.AddSingleton<IFederationDns, SystemFederationDns>();
        services.AddSingleton<FederationTransport>();
        services.AddSingleton<IFederationHttp>(sp => sp.GetRequiredService<FederationTransport>());
        services.AddSingleton<IWellKnownFetcher, WellKnownFetcher>();
        services.AddSingleton<ServerDiscovery>();
        services.AddSingleton<FederationClient>();
        services.AddSingleton<IFederationClient>(sp => sp.GetRequiredService<FederationClient>());
        services.AddSingleton<KeyRing>();
        services.AddSingleton<KeyNotary>();
        services.AddSingleton<PduVerifier>();
        services.AddSingleton<FederationRoomReader>();
        services.AddSingleton<FederationMembershipHandler>();
        services.AddSingleton<FederationEventHandler>();
        services.AddSingleton<ServerAclFilter>();
        services.AddSingleton<TransactionDeduplicator>();
        services.AddSingleton<FederationSender>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<FederationSender>());
        services.AddSingleton<IRoomEventListener>(sp => sp.GetRequiredService<FederationSender>());
        services.AddSingleton<IEduSender>(sp => sp.GetRequiredService<FederationSender>());
        services.AddSingleton<IRemoteMembership, RemoteMembership>();
        services.AddSingleton<IRemoteAliasResolver, RemoteAliasResolver>();
        services.AddSingleton<FederationBackfiller>();
        services.AddSingleton<IRemoteHistory>(sp => sp.GetRequiredService<FederationBackfiller>());

        // Profiles of other servers' users (replaces the accounts module's "not available" placeholder).
        services.Replace(ServiceDescriptor.Singleton<IRemoteProfileProvider, RemoteProfileProvider>());

        // End-to-end encryption across servers: key queries and claims, send-to-device, device lists.
        services.AddSingleton<RemoteKeyClient>();
        services.AddSingleton<IRemoteKeyClient>(sp => sp.GetRequiredService<RemoteKeyClient>());
        services.AddSingleton<IRemoteToDeviceSender, RemoteToDeviceSender>();
        services.AddSingleton<RemoteDeviceLists>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<RemoteDeviceLists>());
        services.AddSingleton<IEduHandler, DirectToDeviceEduHandler>();
        services.AddSingleton<IEduHandler, DeviceListUpdateEduHandler>();
        services.AddSingleton<IEduHandler, SigningKeyUpdateEduHandler>();
        services.AddSingleton<DeviceListEduSender>();
        services.AddSingleton<IDeviceListListener>(sp => sp.GetRequiredService<DeviceListEduSender>());
        services.AddSingleton<IRoomEventListener>(sp => sp.GetRequiredService<DeviceListEduSender>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<DeviceListEduSender>());
        return services;
    }
}
