using System.Collections.Concurrent;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;

namespace Homeserver.Sync.Rooms;

/// <summary>
/// Who hears about a room's ephemeral data (typing, receipts): its joined local members. Kept per room in
/// memory and dropped whenever a batch with a membership event is persisted in that room, so a typing
/// burst costs one query per membership change rather than one per keystroke. (It hears the room writer,
/// so it depends on the stores only, never on services built on the writer.)
/// </summary>
public sealed class RoomAudience(IRoomStore rooms, IRoomReadStore reads, HomeserverConfig config) : IRoomEventListener
{
    /// <summary>Rooms whose audience is kept; beyond this the cache starts again (a crude but bounded policy).</summary>
    private const int MaxRooms = 50_000;

    private static readonly IReadOnlySet<string> NoOne = new HashSet<string>();

    private readonly ConcurrentDictionary<string, Entry> _rooms = new(StringComparer.Ordinal);

    private sealed class Entry
    {
        public int Version;

        public IReadOnlySet<string>? Joined;

        public RoomRecord? Room;
    }

    /// <summary>The room's joined members on this server (empty when the room is unknown).</summary>
    public async Task<IReadOnlySet<string>> GetLocalJoinedAsync(string roomId, CancellationToken ct)
    {
        var entry = _rooms.GetOrAdd(roomId, _ => new Entry());
        if (Volatile.Read(ref entry.Joined) is { } cached)
        {
            return cached;
        }

        var version = Volatile.Read(ref entry.Version);
        var room = entry.Room ??= await rooms.GetRoomAsync(roomId, ct);
        if (room is null)
        {
            return NoOne;
        }

        var members = await reads.GetMembersAsync(room.RoomNid, ct);
        var joined = members
            .Where(m => m.Membership == Membership.Join && MatrixId.ServerOf(m.UserId) == config.ServerName)
            .Select(m => m.UserId)
            .ToHashSet(StringComparer.Ordinal);

        // Keep it only if no membership change was persisted while we read.
        if (Volatile.Read(ref entry.Version) == version)
        {
            if (_rooms.Count > MaxRooms)
            {
                _rooms.Clear();
            }

            Volatile.Write(ref entry.Joined, joined);
        }

        return joined;
    }

    /// <summary>Whether a local user is joined to the room now (false when the room is unknown).</summary>
    public async Task<bool> IsJoinedAsync(string roomId, string userId, CancellationToken ct) =>
        (await GetLocalJoinedAsync(roomId, ct)).Contains(userId);

    public void OnPersisted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head)
    {
        foreach (var e in events)
        {
            if (e.Event.Type == EventTypes.Member && _rooms.TryGetValue(room.RoomId, out var entry))
            {
                Interlocked.Increment(ref entry.Version);
                Volatile.Write(ref entry.Joined, null);
                return;
            }
        }
    }
}
