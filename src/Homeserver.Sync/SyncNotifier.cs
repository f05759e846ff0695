using System.Collections.Concurrent;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;

namespace Homeserver.Sync;

/// <summary>
/// Wakes long-polling <c>/sync</c> requests when something new for their user has been persisted.
///
/// A write says which users it concerns and at which stream position; the wake-up is held back until
/// <see cref="StreamPositions.Current"/> has reached that position, because a sync woken earlier would not
/// yet be allowed to read it (an earlier transaction of another room may still be in flight). Each user
/// has a signal that is replaced whenever it fires, so a waiter that captured the signal before computing
/// its answer cannot miss a write that happens in between. In-process for now; several server processes
/// would feed the same entry points from PostgreSQL LISTEN/NOTIFY.
/// </summary>
public sealed class SyncNotifier : IRoomEventListener, IUserStreamNotifier
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _signals = new(StringComparer.Ordinal);
    private readonly StreamPositions _streams;
    private readonly string _serverName;
    private int _waiting;

    public SyncNotifier(StreamPositions streams, HomeserverConfig config)
    {
        _streams = streams;
        _serverName = config.ServerName;
    }

    /// <summary>The signal that fires on the user's next change. Capture it before reading, then await it.</summary>
    public Task GetSignal(string userId) =>
        _signals.GetOrAdd(userId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>Wakes the users once the stream has reached <paramref name="position"/>.</summary>
    public void Notify(IReadOnlyCollection<string> userIds, long position)
    {
        if (userIds.Count == 0)
        {
            return;
        }

        var reached = _streams.WhenReachedAsync(position);
        if (reached.IsCompleted)
        {
            Fire(userIds);
            return;
        }

        _ = reached.ContinueWith(_ => Fire(userIds), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>How many long-polls are waiting right now (each holds only a signal and a timer).</summary>
    public int WaitingRequests => Volatile.Read(ref _waiting);

    /// <summary>
    /// Parks a long-poll until <paramref name="signal"/> fires or <paramref name="remaining"/> has passed. The timer is
    /// cancelled as soon as either happens or the client goes away, so a parked request leaves nothing running behind it.
    /// </summary>
    public async Task WaitAsync(Task signal, TimeSpan remaining, TimeProvider time, CancellationToken ct)
    {
        Interlocked.Increment(ref _waiting);
        try
        {
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
            await Task.WhenAny(signal, Task.Delay(remaining, time, cancel.Token));
            await cancel.CancelAsync();
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }

        ct.ThrowIfCancellationRequested();
    }

    /// <summary>Wakes the users now (for data outside the persisted stream, such as typing notifications).</summary>
    public void NotifyNow(IReadOnlyCollection<string> userIds) => Fire(userIds);

    public void OnPersisted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head)
    {
        var users = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, _) in head.State)
        {
            if (key.Type == EventTypes.Member && MatrixId.ServerOf(key.Key) == _serverName)
            {
                users.Add(key.Key);
            }
        }

        var last = 0L;
        foreach (var e in events)
        {
            if (e.Event.Type == EventTypes.Member && e.Event.StateKey is { } target)
            {
                users.Add(target);
            }

            last = Math.Max(last, e.StreamOrdering ?? 0);
        }

        Notify(users, last);
    }

    private void Fire(IEnumerable<string> userIds)
    {
        foreach (var user in userIds)
        {
            if (_signals.TryRemove(user, out var signal))
            {
                signal.TrySetResult();
            }
        }
    }
}
