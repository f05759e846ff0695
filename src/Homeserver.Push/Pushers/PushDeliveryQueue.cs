using Homeserver.Push.Notifications;

namespace Homeserver.Push.Pushers;

/// <summary>
/// The users whose pushers have something to send (new notifications, or a badge change after a read receipt).
/// A dependency-free relay between the writers of notifications and <see cref="PushDelivery"/>, so that the
/// evaluator (a room event listener) does not depend on the delivery worker (which reads rooms).
/// </summary>
public sealed class PushDeliveryQueue : IPushDeliveryTrigger, IDisposable
{
    private readonly object _lock = new();
    private readonly HashSet<string> _users = new(StringComparer.Ordinal);
    private readonly HashSet<string> _badges = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _signal = new(0);

    public void Poke(IReadOnlyCollection<string> userIds)
    {
        if (userIds.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            _users.UnionWith(userIds);
        }

        Signal();
    }

    public void PokeBadge(string userId)
    {
        lock (_lock)
        {
            _badges.Add(userId);
        }

        Signal();
    }

    /// <summary>Takes everything queued so far.</summary>
    public (List<string> Users, List<string> Badges) Take()
    {
        lock (_lock)
        {
            var result = (_users.ToList(), _badges.ToList());
            _users.Clear();
            _badges.Clear();
            return result;
        }
    }

    /// <summary>Waits for a poke, at most <paramref name="timeout"/>.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => _signal.WaitAsync(timeout, ct);

    public void Dispose() => _signal.Dispose();

    // At most one pending wake-up: the worker takes everything queued when it wakes.
    private void Signal()
    {
        if (_signal.CurrentCount == 0)
        {
            _signal.Release();
        }
    }
}
