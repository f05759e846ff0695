using System.Collections.Concurrent;
using Homeserver.Push;

namespace Homeserver.Storage.Push;

/// <summary>
/// The unread counts each <c>/sync</c> last computed per user and room, so that the next one counts only the
/// notifications stored since (a user who never reads a busy room made every sync count all of its unread rows: 3 ms
/// of PostgreSQL per sync at a few hundred, growing without bound). An entry holds the counts up to a stream
/// position; it is valid while nothing but new notifications above that position changed the user's counts.
/// Everything that can change them otherwise (a read position moving, a notification stored at or below a cached
/// position, pruning) goes through <see cref="NotificationRepository"/>, which invalidates here after its commit.
/// A count computed while an invalidation happened is not kept (the generation read before the query must still be
/// current after it). In-process only, like the sync notifier: several server processes would share invalidations
/// through PostgreSQL NOTIFY.
/// </summary>
internal sealed class UnreadCountCache
{
    /// <summary>Entries kept before the cache is emptied and starts again (a bound on memory, not a tuning knob).</summary>
    public const int MaxEntries = 100_000;

    private readonly ConcurrentDictionary<(string UserId, string RoomId), Entry> _entries = new();
    private readonly ConcurrentDictionary<string, long> _userGenerations = new(StringComparer.Ordinal);
    private long _epoch;

    private sealed record Entry(long UpTo, long Epoch, long UserGeneration, IReadOnlyList<UnreadCount> Counts);

    /// <summary>What a reader must present when storing its result: the state of invalidations before it queried.</summary>
    public readonly record struct Generation(long Epoch, long User);

    public Generation Current(string userId) => new(Volatile.Read(ref _epoch), _userGenerations.GetValueOrDefault(userId));

    /// <summary>The cached counts of a room up to a position at or below <paramref name="upTo"/>, if still valid.</summary>
    public bool TryGet(string userId, string roomId, long upTo, Generation generation, out long cachedUpTo, out IReadOnlyList<UnreadCount> counts)
    {
        if (_entries.TryGetValue((userId, roomId), out var entry) && entry.UpTo <= upTo
            && entry.Epoch == generation.Epoch && entry.UserGeneration == generation.User)
        {
            cachedUpTo = entry.UpTo;
            counts = entry.Counts;
            return true;
        }

        cachedUpTo = 0;
        counts = [];
        return false;
    }

    public void Store(string userId, string roomId, long upTo, Generation generation, IReadOnlyList<UnreadCount> counts)
    {
        if (Current(userId) != generation)
        {
            return;
        }

        if (_entries.Count >= MaxEntries)
        {
            _entries.Clear();
        }

        _entries[(userId, roomId)] = new Entry(upTo, generation.Epoch, generation.User, counts);
    }

    /// <summary>The user's counts may have changed other than by new notifications above the cached positions.</summary>
    public void Invalidate(string userId) => _userGenerations.AddOrUpdate(userId, 1, (_, g) => g + 1);

    /// <summary>New notifications: only those at or below a cached position invalidate (the next count would miss them).</summary>
    public void OnStored(IEnumerable<NotificationRow> rows)
    {
        foreach (var row in rows)
        {
            if (_entries.TryGetValue((row.UserId, row.RoomId), out var entry) && row.StreamOrdering <= entry.UpTo)
            {
                Invalidate(row.UserId);
            }
        }
    }

    /// <summary>Anyone's counts may have changed (pruning).</summary>
    public void InvalidateAll() => Interlocked.Increment(ref _epoch);
}
