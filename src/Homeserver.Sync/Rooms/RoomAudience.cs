using System.Collections.Concurrent;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;

namespace Homeserver.Sync.Rooms;

/// <summary>
/// Who hears about a room's ephemeral data (typing, receipts): its joined members, ours and other servers'. Kept per
/// room in memory and dropped whenever a batch with a membership event is persisted in that room, so a typing
/// burst costs one query per membership change rather than one per keystroke. Local members are woken; the other
/// servers of joined members get our users' EDUs, and a remote user must be joined here for their EDUs to count.
/// (It hears the room writer, so it depends on the stores only, never on services built on the writer.)
/// </summary>
public sealed class RoomAudience(IRoomStore rooms, IRoomReadStore reads, HomeserverConfig config) : IRoomEventListener
{
    /// <summary>Rooms whose audience is kept; beyond this the cache starts again (a crude but bounded policy).</summary>
    private const int MaxRooms = 50_000;

    private static readonly Members NoOne = new(new HashSet<string>(), new HashSet<string>(), []);

    private readonly ConcurrentDictionary<string, Entry> _rooms = new(StringComparer.Ordinal);

    private sealed class Entry
    {
        public int Version;

        public Members? Members;

        public RoomRecord? Room;
    }

    /// <summary>A room's joined members: all of them, ours, and the other servers they belong to (sorted).</summary>
    private sealed record Members(IReadOnlySet<string> All, IReadOnlySet<string> Local, IReadOnlyList<string> RemoteServers);

    /// <summary>The room's joined members on this server (empty when the room is unknown).</summary>
    public async Task<IReadOnlySet<string>> GetLocalJoinedAsync(string roomId, CancellationToken ct) => (await GetAsync(roomId, ct)).Local;

    /// <summary>Every joined member of the room, of any server, per our current state (empty when the room is unknown).</summary>
    public async Task<IReadOnlySet<string>> GetJoinedAsync(string roomId, CancellationToken ct) => (await GetAsync(roomId, ct)).All;

    /// <summary>The servers other than ours with joined members in the room: where our users' EDUs about it go.</summary>
    public async Task<IReadOnlyList<string>> GetRemoteServersAsync(string roomId, CancellationToken ct) => (await GetAsync(roomId, ct)).RemoteServers;

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
                Volatile.Write(ref entry.Members, null);
                return;
            }
        }
    }

    private async Task<Members> GetAsync(string roomId, CancellationToken ct)
    {
        var entry = _rooms.GetOrAdd(roomId, _ => new Entry());
        if (Volatile.Read(ref entry.Members) is { } cached)
        {
            return cached;
        }

        var version = Volatile.Read(ref entry.Version);
        var room = entry.Room ??= await rooms.GetRoomAsync(roomId, ct);
        if (room is null)
        {
            return NoOne;
        }

        var all = new HashSet<string>(StringComparer.Ordinal);
        var local = new HashSet<string>(StringComparer.Ordinal);
        var servers = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var m in await reads.GetMembersAsync(room.RoomNid, ct))
        {
            if (m.Membership != Membership.Join)
            {
                continue;
            }

            all.Add(m.UserId);
            var server = MatrixId.ServerOf(m.UserId);
            if (server == config.ServerName)
            {
                local.Add(m.UserId);
            }
            else if (server is not null)
            {
                servers.Add(server);
            }
        }

        var members = new Members(all, local, [.. servers]);

        // Keep it only if no membership change was persisted while we read.
        if (Volatile.Read(ref entry.Version) == version)
        {
            if (_rooms.Count > MaxRooms)
            {
                _rooms.Clear();
            }

            Volatile.Write(ref entry.Members, members);
        }

        return members;
    }
}
