using System.Text.Json;
using Homeserver.Rooms.Persistence;
using Homeserver.Sync;
using Homeserver.Sync.Receipts;

namespace Homeserver.Push.Notifications;

/// <summary>
/// What read receipts do to notifications ("Marking notifications as read"). The receipts module calls this when a
/// user's <c>m.read</c> or <c>m.read.private</c> receipt moves forward.
/// </summary>
public interface INotificationCounts
{
    /// <summary>
    /// Marks the user's notifications in the room read up to and including <paramref name="upToStreamOrdering"/>:
    /// every thread when <paramref name="threadId"/> is null (an unthreaded receipt), else only that thread
    /// (<c>"main"</c> for the main timeline, or a thread root's event ID). Never moves a position back.
    /// </summary>
    Task ResetAsync(string userId, string roomId, string? threadId, long upToStreamOrdering, CancellationToken ct);

    /// <summary>The same, for a receipt given as an event ID (unknown events and events of other rooms are ignored).</summary>
    Task ResetToEventAsync(string userId, string roomId, string? threadId, string eventId, CancellationToken ct);
}

/// <summary>Read positions (<see cref="INotificationCounts"/>) and the <c>GET /notifications</c> list.</summary>
public sealed class NotificationCounts(INotificationStore store, IRoomReadStore reads, IPushDeliveryTrigger delivery) : INotificationCounts, IReceiptListener
{
    /// <summary>A stored read receipt (public or private) marks the notifications up to its event read: every thread for an unthreaded receipt, else its thread.</summary>
    public Task OnReceiptAsync(Receipt receipt, long eventStreamOrdering, CancellationToken ct) =>
        eventStreamOrdering <= 0
            ? Task.CompletedTask
            : ResetAsync(receipt.UserId, receipt.RoomId, receipt.ThreadId.Length == 0 ? null : receipt.ThreadId, eventStreamOrdering, ct);

    public async Task ResetAsync(string userId, string roomId, string? threadId, long upToStreamOrdering, CancellationToken ct)
    {
        if (await store.MarkReadAsync(new ReadPosition(userId, roomId, threadId ?? string.Empty, upToStreamOrdering), ct))
        {
            delivery.PokeBadge(userId);
        }
    }

    public async Task ResetToEventAsync(string userId, string roomId, string? threadId, string eventId, CancellationToken ct)
    {
        var stored = (await reads.GetStoredEventsAsync([eventId], ct)).FirstOrDefault();
        if (stored is { StreamOrdering: { } ordering } && stored.Event.RoomId == roomId)
        {
            await ResetAsync(userId, roomId, threadId, ordering, ct);
        }
    }

    public Task<IReadOnlyList<StoredNotification>> ListAsync(string userId, long? before, int limit, bool onlyHighlight, CancellationToken ct) =>
        store.GetNotificationsAsync(userId, before, limit, onlyHighlight, ct);
}

/// <summary>
/// <c>unread_notifications</c> ({notification_count, highlight_count}) in every joined room of <c>/sync</c>, and
/// <c>unread_thread_notifications</c> per thread root when the filter asks for them (then <c>unread_notifications</c>
/// counts the main timeline only). Counts include every event the answer covers: the section waits for the
/// evaluator to have handled the events up to the answer's position.
/// </summary>
public sealed class UnreadNotificationsSyncSection(INotificationStore store, NotificationEvaluator evaluator) : IRoomSyncSection
{
    /// <summary>How long a sync waits for push evaluation to catch up before answering with the counts it has.</summary>
    public static readonly TimeSpan EvaluationWait = TimeSpan.FromSeconds(5);

    public async Task<IReadOnlyDictionary<string, IRoomSyncContribution>> ComputeAsync(SyncContext context, IReadOnlyCollection<string> roomIds, CancellationToken ct)
    {
        if (roomIds.Count == 0)
        {
            return new Dictionary<string, IRoomSyncContribution>();
        }

        await evaluator.WaitForAsync(context.UpTo.Stream, EvaluationWait, ct);
        var counts = await store.GetUnreadCountsAsync(context.Requester.UserId, roomIds, context.UpTo.Stream, ct);
        var byRoom = counts.GroupBy(c => c.RoomId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var split = context.Filter.UnreadThreadNotifications;
        var result = new Dictionary<string, IRoomSyncContribution>(StringComparer.Ordinal);
        foreach (var roomId in roomIds)
        {
            result[roomId] = new Contribution(byRoom.GetValueOrDefault(roomId) ?? [], split);
        }

        return result;
    }

    private sealed class Contribution(List<UnreadCount> counts, bool split) : IRoomSyncContribution
    {
        // Counts alone never justify answering a long-poll: the events or receipts that changed them do.
        public bool HasContent => false;

        public void WriteEphemeralEvents(Utf8JsonWriter writer)
        {
        }

        public void WriteRoomProperties(Utf8JsonWriter w)
        {
            var main = split ? counts.Where(c => c.ThreadId == NotificationEvaluator.MainThread).ToList() : counts;
            w.WritePropertyName("unread_notifications"u8);
            w.WriteStartObject();
            w.WriteNumber("highlight_count"u8, main.Sum(c => c.Highlights));
            w.WriteNumber("notification_count"u8, main.Sum(c => c.Notifications));
            w.WriteEndObject();
            if (!split)
            {
                return;
            }

            w.WritePropertyName("unread_thread_notifications"u8);
            w.WriteStartObject();
            foreach (var thread in counts.Where(c => c.ThreadId != NotificationEvaluator.MainThread))
            {
                w.WritePropertyName(thread.ThreadId);
                w.WriteStartObject();
                w.WriteNumber("highlight_count"u8, thread.Highlights);
                w.WriteNumber("notification_count"u8, thread.Notifications);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }
    }
}
