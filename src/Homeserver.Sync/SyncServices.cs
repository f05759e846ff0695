using Homeserver.Core.Federation;
using Homeserver.Core.Streams;
using Homeserver.Rooms.Writing;
using Homeserver.Sync.Legacy;
using Homeserver.Sync.Presence;
using Homeserver.Sync.Receipts;
using Homeserver.Sync.Rooms;
using Homeserver.Sync.SlidingSync;
using Homeserver.Sync.SlidingSync.Extensions;
using Homeserver.Sync.Typing;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.Sync;

/// <summary>
/// Registers sync, sliding sync, their wake-ups, and the ephemeral streams (typing, receipts, presence) with their
/// sections, extensions and federation EDU handlers and senders (the <see cref="IEduSender"/> comes from the federation module).
/// </summary>
public static class SyncServices
{
    public static IServiceCollection AddSync(this IServiceCollection services)
    {
        // The notifier and the audience cache hear every persisted batch.
        services.AddSingleton<SyncNotifier>();
        services.AddSingleton<IRoomEventListener>(sp => sp.GetRequiredService<SyncNotifier>());
        services.AddSingleton<IUserStreamNotifier>(sp => sp.GetRequiredService<SyncNotifier>());
        services.AddSingleton<RoomAudience>();
        services.AddSingleton<IRoomEventListener>(sp => sp.GetRequiredService<RoomAudience>());

        services.AddSingleton<LazyMemberCache>();
        services.AddSingleton<StrippedState>();
        services.AddSingleton<UserMemberships>();
        services.AddSingleton<SyncRoomBuilder>();
        services.AddSingleton<SyncService>();

        services.AddSingleton<TypingService>();
        services.AddSingleton<IEphemeralPositions>(sp => sp.GetRequiredService<TypingService>());
        services.AddSingleton<IRoomSyncSection, TypingSyncSection>();
        services.AddSingleton<IEduHandler, TypingEduHandler>();

        services.AddSingleton<ReceiptService>();
        services.AddSingleton<IRoomSyncSection, ReceiptSyncSection>();
        services.AddSingleton<IReceiptListener, ReceiptEduSender>();
        services.AddSingleton<IEduHandler, ReceiptEduHandler>();

        services.AddSingleton<SlidingSyncConnections>();
        services.AddSingleton<SlidingRoomLists>();
        services.AddSingleton<SlidingRoomBuilder>();
        services.AddSingleton<SlidingSyncWriter>();
        services.AddSingleton<SlidingSyncService>();
        services.AddSingleton<ISlidingSyncExtension, AccountDataExtension>();
        services.AddSingleton<ISlidingSyncExtension, ReceiptsExtension>();
        services.AddSingleton<ISlidingSyncExtension, TypingExtension>();

        services.AddSingleton<LegacySyncService>();

        services.AddSingleton<PresenceService>();
        services.AddSingleton<IRoomEventListener>(sp => sp.GetRequiredService<PresenceService>());
        services.AddSingleton<ISyncSection, PresenceSyncSection>();
        services.AddSingleton<IEduHandler, PresenceEduHandler>();
        return services;
    }
}
