using Homeserver.ClientApi;
using Homeserver.Core.Configuration;
using Homeserver.Core.Net;
using Homeserver.Push;
using Homeserver.Push.Notifications;
using Homeserver.Push.Pushers;
using Homeserver.Rooms.Writing;
using Homeserver.Storage.Push;
using Homeserver.Sync;
using Microsoft.Extensions.Logging;

namespace Homeserver.Host;

/// <summary>
/// Composes push: rules, the notification evaluator (a room event listener), unread counts in /sync, pushers and
/// their delivery worker. Call <see cref="AddPushModule"/> after the storage and sync registrations.
/// </summary>
internal static partial class PushModule
{
    public static IServiceCollection AddPushModule(this IServiceCollection services, HomeserverConfig config)
    {
        services.AddPushStorage();
        services.AddSingleton<PushRuleService>();
        services.AddSingleton(_ => new PushGatewayClient(new OutboundAddressFilter(config.IpRangeBlacklist, trust: new TlsTrust(config.OutboundHttpCustomCaList))));
        services.AddSingleton<PushDeliveryQueue>();
        services.AddSingleton<IPushDeliveryTrigger>(sp => sp.GetRequiredService<PushDeliveryQueue>());
        services.AddSingleton<PushDelivery>();
        services.AddSingleton<NotificationEvaluator>();

        // A commit listener: told of a batch before its positions are readable, so before the sync notifier wakes anyone
        // (a woken /sync waits for the counts of the events it shows, see UnreadNotificationsSyncSection), and before
        // the evaluator's recorded position could pass it.
        services.AddSingleton<IRoomCommitListener>(sp => sp.GetRequiredService<NotificationEvaluator>());
        services.AddSingleton<NotificationCounts>();
        services.AddSingleton<INotificationCounts>(sp => sp.GetRequiredService<NotificationCounts>());
        services.AddSingleton<Homeserver.Sync.Receipts.IReceiptListener>(sp => sp.GetRequiredService<NotificationCounts>());
        services.AddSingleton<IRoomSyncSection, UnreadNotificationsSyncSection>();
        services.AddSingleton<PusherService>();
        services.AddHostedService<PushDeliveryService>();
        services.AddHostedService<NotificationEvaluatorService>();
        DecorateSyncData(services);
        return services;
    }

    public static IEndpointRouteBuilder MapPushModule(this IEndpointRouteBuilder app) => app.MapPushEndpoints();

    /// <summary>Wraps the registered <see cref="ISyncDataStore"/> so that initial syncs always carry <c>m.push_rules</c>.</summary>
    private static void DecorateSyncData(IServiceCollection services)
    {
        var inner = services.Last(d => d.ServiceType == typeof(ISyncDataStore));
        services.Remove(inner);
        services.AddSingleton<ISyncDataStore>(sp =>
        {
            var store = inner.ImplementationInstance as ISyncDataStore
                ?? (ISyncDataStore?)inner.ImplementationFactory?.Invoke(sp)
                ?? (ISyncDataStore)ActivatorUtilities.CreateInstance(sp, inner.ImplementationType!);
            return new PushRulesAccountData(store);
        });
    }

    /// <summary>
    /// Runs <see cref="NotificationEvaluator"/> for the server's lifetime. On a stop, waits (bounded) until the
    /// notifications still queued are stored, before the container closes the database pool; what is left (and what a
    /// crash leaves) is evaluated by its recovery at the next start.
    /// </summary>
    private sealed partial class NotificationEvaluatorService(NotificationEvaluator evaluator, ILogger<NotificationEvaluatorService> logger) : IHostedService
    {
        private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(10);

        private readonly CancellationTokenSource _stop = new();
        private Task? _running;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _running = Task.Run(() => evaluator.RunAsync(_stop.Token), CancellationToken.None);
            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            var pending = evaluator.PendingEvents;
            if (pending > 0)
            {
                LogDraining(pending);
                try
                {
                    await evaluator.WaitForAsync(long.MaxValue, MaxWait, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    // The host's own shutdown timeout came first.
                }

                var left = evaluator.PendingEvents;
                if (left > 0)
                {
                    LogNotDrained(left);
                }
            }

            await _stop.CancelAsync();
            if (_running is not null)
            {
                await _running;
            }

            _stop.Dispose();
        }

        [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: storing the notifications of {Events} events first")]
        private partial void LogDraining(int events);

        [LoggerMessage(Level = LogLevel.Warning, Message = "Stopped with the notifications of {Events} events not stored; the next start evaluates them again")]
        private partial void LogNotDrained(int events);
    }

    /// <summary>Runs <see cref="PushDelivery.RunAsync"/> for the lifetime of the server.</summary>
    private sealed class PushDeliveryService(PushDelivery delivery) : BackgroundService
    {
        protected override Task ExecuteAsync(CancellationToken stoppingToken) => delivery.RunAsync(stoppingToken);
    }
}
