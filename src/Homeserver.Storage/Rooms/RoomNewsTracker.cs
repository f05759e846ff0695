using System.Collections.Concurrent;

namespace Homeserver.Storage.Rooms;

/// <summary>
/// The newest stream position written into each room since this process started, so that a sync can tell which of a
/// user's rooms have news without asking the database (it was one of the round trips every woken long-poll waited
/// for). Every event with a stream position is persisted through <see cref="RoomRepository"/>, which records the
/// batch's highest position before it commits: a room is never missed, and a batch that then fails only makes a
/// sync look at a room with nothing new in it. Positions from before tracking started are the database's to answer.
/// In-process only, like the sync notifier.
/// </summary>
public sealed class RoomNewsTracker
{
    private readonly ConcurrentDictionary<long, long> _latest = new();
    private long _trackingFrom = long.MaxValue;

    /// <summary>Called once the stream positions are seeded, before anything is written: nothing after <paramref name="position"/> escapes tracking.</summary>
    public void StartTracking(long position) => Interlocked.CompareExchange(ref _trackingFrom, position, long.MaxValue);

    public void Record(long roomNid, long position) => _latest.AddOrUpdate(roomNid, position, (_, latest) => Math.Max(latest, position));

    /// <summary>
    /// The rooms among <paramref name="roomNids"/> written to after <paramref name="after"/> (possibly only after the
    /// caller's upper bound too: a superset), or null when <paramref name="after"/> is older than tracking.
    /// </summary>
    public IReadOnlyCollection<long>? RoomsWrittenAfter(IReadOnlyCollection<long> roomNids, long after)
    {
        if (after < Volatile.Read(ref _trackingFrom))
        {
            return null;
        }

        var rooms = new List<long>();
        foreach (var roomNid in roomNids)
        {
            if (_latest.TryGetValue(roomNid, out var latest) && latest > after)
            {
                rooms.Add(roomNid);
            }
        }

        return rooms;
    }
}
