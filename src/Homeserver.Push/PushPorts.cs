using Homeserver.Push.Rules;

namespace Homeserver.Push;

/// <summary>Storage of users' push rules (implemented by Homeserver.Storage).</summary>
public interface IPushRuleStore
{
    Task<IReadOnlyList<StoredPushRule>> GetAsync(string userId, CancellationToken ct);

    /// <summary>The rows of several users at once (users without rows map to an empty list).</summary>
    Task<IReadOnlyDictionary<string, IReadOnlyList<StoredPushRule>>> GetManyAsync(IReadOnlyCollection<string> userIds, CancellationToken ct);

    /// <summary>
    /// Changes a user's rules atomically: under a per-user lock, reads the rows, applies <paramref name="change"/> (which
    /// may throw to refuse the change), stores the result and writes the <c>m.push_rules</c> global account data
    /// (content from <paramref name="accountData"/>) at <paramref name="streamPosition"/>, all in one transaction.
    /// </summary>
    Task UpdateAsync(
        string userId,
        Func<IReadOnlyList<StoredPushRule>, IReadOnlyList<StoredPushRule>> change,
        Func<IReadOnlyList<StoredPushRule>, string> accountData,
        long streamPosition,
        CancellationToken ct);
}

/// <summary>A notification push rules gave a user for an event (actions JSON as stored, historical actions stripped).</summary>
public sealed record NotificationRow(
    string UserId, string RoomId, string EventId, long StreamOrdering, string ThreadId, string ActionsJson, bool Highlight, long Ts);

/// <summary>How far a user has read a room (<see cref="ThreadId"/> empty: the whole room) or one thread ("main" or a root).</summary>
public sealed record ReadPosition(string UserId, string RoomId, string ThreadId, long StreamOrdering);

/// <summary>An event to evaluate again after a crash, with the state snapshot after it (none for an out-of-band membership).</summary>
public sealed record UnevaluatedEvent(long StreamOrdering, string RoomId, string EventId, long? StateAfter);

/// <summary>Unread notifications of one thread of one room.</summary>
public sealed record UnreadCount(string RoomId, string ThreadId, long Notifications, long Highlights);

/// <summary>A notification with whether the user has read it (for <c>GET /notifications</c>).</summary>
public sealed record StoredNotification(NotificationRow Row, bool Read);

/// <summary>Storage of notifications and read positions (implemented by Homeserver.Storage).</summary>
public interface INotificationStore
{
    /// <summary>
    /// Stores new notifications and moves read positions (a sender has read up to their own event) in one transaction,
    /// with the evaluator's recorded position if given: every event at or below it is evaluated and stored
    /// (<see cref="GetEvaluatedThroughAsync"/>). With <paramref name="mayRepeat"/> (the evaluator's recovery), a
    /// notification already stored for the same user and event is kept; otherwise one would fail the whole store.
    /// </summary>
    Task AddAsync(IReadOnlyList<NotificationRow> rows, IReadOnlyList<ReadPosition> reads, long? evaluatedThrough, bool mayRepeat, CancellationToken ct);

    /// <summary>The notification evaluator's recorded position: the notifications of every event at or below it are stored.</summary>
    Task<long> GetEvaluatedThroughAsync(CancellationToken ct);

    /// <summary>
    /// The timeline events in (<paramref name="after"/>, <paramref name="upTo"/>] to evaluate again after a crash, in stream
    /// order: neither rejected nor soft-failed.
    /// </summary>
    Task<IReadOnlyList<UnevaluatedEvent>> GetUnevaluatedAsync(long after, long upTo, int limit, CancellationToken ct);

    /// <summary>Moves a read position forward (never back) and forgets read notifications that do not highlight. False if it did not move.</summary>
    Task<bool> MarkReadAsync(ReadPosition position, CancellationToken ct);

    /// <summary>Unread notifications per room and thread among <paramref name="roomIds"/>, counting events up to <paramref name="upToStream"/>.</summary>
    Task<IReadOnlyList<UnreadCount>> GetUnreadCountsAsync(string userId, IReadOnlyCollection<string> roomIds, long upToStream, CancellationToken ct);

    /// <summary>The user's notifications, newest first, below <paramref name="before"/> if given.</summary>
    Task<IReadOnlyList<StoredNotification>> GetNotificationsAsync(string userId, long? before, int limit, bool onlyHighlight, CancellationToken ct);

    /// <summary>Unread notifications after <paramref name="afterStream"/>, oldest first (what a pusher still has to send).</summary>
    Task<IReadOnlyList<NotificationRow>> GetUnreadAfterAsync(string userId, long afterStream, int limit, CancellationToken ct);

    /// <summary>The badge: rooms with unread notifications, or unread notifications when not grouped by room.</summary>
    Task<long> GetBadgeCountAsync(string userId, bool groupByRoom, CancellationToken ct);

    /// <summary>Forgets notifications older than <paramref name="olderThanTs"/>.</summary>
    Task<int> PruneAsync(long olderThanTs, CancellationToken ct);
}

/// <summary>An HTTP pusher as stored (<c>POST /pushers/set</c>). <see cref="DataJson"/> is the <c>data</c> object as given.</summary>
public sealed record Pusher(
    long Id,
    string UserId,
    string? DeviceId,
    string Kind,
    string AppId,
    string Pushkey,
    string AppDisplayName,
    string DeviceDisplayName,
    string ProfileTag,
    string Lang,
    string DataJson,
    long PushkeyTs,
    long LastStreamOrdering,
    long? FailingSince);

/// <summary>Storage of pushers (implemented by Homeserver.Storage).</summary>
public interface IPusherStore
{
    Task<IReadOnlyList<Pusher>> GetForUserAsync(string userId, CancellationToken ct);

    Task<IReadOnlyList<Pusher>> GetForUsersAsync(IReadOnlyCollection<string> userIds, CancellationToken ct);

    Task<IReadOnlyList<Pusher>> GetAllAsync(CancellationToken ct);

    /// <summary>
    /// Creates or updates the pusher (user, app ID, pushkey); unless <paramref name="append"/>, removes pushers of other
    /// users with the same app ID and pushkey. A new pusher starts after <paramref name="startAfterStream"/>.
    /// </summary>
    Task UpsertAsync(Pusher pusher, bool append, long startAfterStream, CancellationToken ct);

    Task<bool> DeleteAsync(string userId, string appId, string pushkey, CancellationToken ct);

    /// <summary>Removes the pushers a device created (when the device is deleted or logs out).</summary>
    Task<int> DeleteForDeviceAsync(string userId, string deviceId, CancellationToken ct);

    /// <summary>Records delivery progress; false when the pusher no longer exists.</summary>
    Task<bool> UpdateProgressAsync(long pusherId, long lastStreamOrdering, long? lastSuccessTs, long? failingSince, CancellationToken ct);

    Task SetFailingSinceAsync(long pusherId, long? failingSince, CancellationToken ct);
}
