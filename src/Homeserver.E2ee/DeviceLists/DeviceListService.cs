using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Sync;
using Microsoft.Extensions.Logging;

namespace Homeserver.E2ee.DeviceLists;

/// <summary>The <c>device_lists</c> of a /sync answer or a /keys/changes answer.</summary>
public sealed record DeviceListUpdates(IReadOnlyList<string> Changed, IReadOnlyList<string> Left)
{
    public static readonly DeviceListUpdates Empty = new([], []);

    public bool IsEmpty => Changed.Count == 0 && Left.Count == 0;
}

/// <summary>
/// Device list tracking (client-server API "Tracking the device list for a user", "Extensions to /sync"):
/// every change to a user's devices or cross-signing keys is a row in the device list stream at a position of the
/// global stream; readers work out, for a range of positions, which users a viewer must re-query.
///
/// <c>changed</c> for a viewer and a range (after, upTo]:
///   1. users with a change row in the range who share a joined room with the viewer now, the viewer itself, and
///      rows addressed only to the viewer (a new user-signing signature);
///   2. users who joined, were invited to or knock on a room the viewer is in, within the range;
///   3. every member of a room the viewer joined within the range (so the viewer starts tracking them).
/// <c>left</c>: users who left a room the viewer is in, or every member of a room the viewer left, within the range,
/// who share no joined room with the viewer any more. A user in <c>left</c> is not also in <c>changed</c>.
/// </summary>
public sealed partial class DeviceListService(
    IDeviceListStore store,
    StreamPositions streams,
    SyncNotifier notifier,
    HomeserverConfig config,
    TimeProvider time,
    IEnumerable<IDeviceListListener> listeners,
    ILogger<DeviceListService> logger) : IDeviceListNotifier
{
    private readonly IDeviceListListener[] _listeners = listeners.ToArray();

    /// <inheritdoc />
    public async Task DevicesChangedAsync(string userId, IReadOnlyCollection<string> deviceIds, CancellationToken ct)
    {
        long position;
        IReadOnlyList<DeviceListChange> changes = [new DeviceListChange(userId)];
        using (var reservation = streams.Reserve())
        {
            await store.AddChangesAsync(reservation.First, changes, time.GetUtcNow().ToUnixTimeMilliseconds(), ct);
            position = reservation.First;
        }

        await PublishAsync(position, changes, new DeviceListUpdate(userId, deviceIds.ToList(), Deleted: false, CrossSigningChanged: false, position));
    }

    /// <inheritdoc />
    public async Task DevicesDeletedAsync(string userId, IReadOnlyCollection<string> deviceIds, CancellationToken ct)
    {
        if (deviceIds.Count == 0)
        {
            return;
        }

        await store.DeleteDeviceDataAsync(userId, deviceIds, ct);
        long position;
        IReadOnlyList<DeviceListChange> changes = [new DeviceListChange(userId)];
        using (var reservation = streams.Reserve())
        {
            await store.AddChangesAsync(reservation.First, changes, time.GetUtcNow().ToUnixTimeMilliseconds(), ct);
            position = reservation.First;
        }

        await PublishAsync(position, changes, new DeviceListUpdate(userId, deviceIds.ToList(), Deleted: true, CrossSigningChanged: false, position));
    }

    /// <summary>
    /// After a committed write recorded <paramref name="changes"/> at <paramref name="position"/>: wakes the long-polls
    /// of everyone who will see them and tells federation about local users' changes. Never cancelled: the write is done.
    /// </summary>
    internal async Task PublishAsync(long position, IReadOnlyList<DeviceListChange> changes, DeviceListUpdate? update)
    {
        var wake = new HashSet<string>(StringComparer.Ordinal);
        foreach (var change in changes)
        {
            if (change.NotifyUserId is { } only)
            {
                wake.Add(only);
                continue;
            }

            wake.Add(change.UserId);
            wake.UnionWith(await store.GetUsersSharingRoomAsync(change.UserId, null, CancellationToken.None));
        }

        wake.RemoveWhere(u => MatrixId.ServerOf(u) != config.ServerName);
        notifier.Notify(wake, position);

        if (update is null || MatrixId.ServerOf(update.UserId) != config.ServerName)
        {
            return;
        }

        foreach (var listener in _listeners)
        {
            try
            {
                listener.OnDeviceListChanged(update);
            }
#pragma warning disable CA1031 // A listener's failure must not fail the request whose write already committed.
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogListenerFailed(e, update.UserId);
            }
        }
    }

    /// <summary>
    /// The current version of a user's device list for other servers: the position of its last public change that is
    /// persisted without gaps (so a snapshot read afterwards includes every change up to it). 0 when it never changed.
    /// </summary>
    public Task<long> GetVersionAsync(string userId, CancellationToken ct) => store.GetLastChangeAsync(userId, streams.Current, ct);

    /// <summary>The version of a user's device list just before the change at <paramref name="position"/> (what <c>prev_id</c> cites).</summary>
    public Task<long> GetVersionBeforeAsync(string userId, long position, CancellationToken ct) => store.GetLastChangeAsync(userId, position - 1, ct);

    /// <summary>The device list changes a viewer must hear about for the stream range (<paramref name="after"/>, <paramref name="upTo"/>].</summary>
    public async Task<DeviceListUpdates> GetChangesAsync(string viewerUserId, long after, long upTo, CancellationToken ct)
    {
        if (upTo <= after)
        {
            return DeviceListUpdates.Empty;
        }

        var changed = new HashSet<string>(await store.GetChangedUsersAsync(viewerUserId, after, upTo, ct), StringComparer.Ordinal);
        var leftCandidates = new HashSet<string>(StringComparer.Ordinal);
        var joinedRooms = new List<long>();
        var leftRooms = new List<long>();
        foreach (var m in await store.GetMembershipChangesAsync(viewerUserId, after, upTo, ct))
        {
            if (m.UserId == viewerUserId)
            {
                if (m.Membership == Membership.Join)
                {
                    joinedRooms.Add(m.RoomNid);
                }
                else if (m.Membership is Membership.Leave or Membership.Ban)
                {
                    leftRooms.Add(m.RoomNid);
                }
            }
            else if (m.ViewerMembership == Membership.Join)
            {
                if (m.Membership is Membership.Join or Membership.Invite or Membership.Knock)
                {
                    changed.Add(m.UserId);
                }
                else if (m.Membership is Membership.Leave or Membership.Ban)
                {
                    leftCandidates.Add(m.UserId);
                }
            }
        }

        if (joinedRooms.Count > 0)
        {
            changed.UnionWith((await store.GetJoinedMembersAsync(joinedRooms, ct)).Where(u => u != viewerUserId));
        }

        if (leftRooms.Count > 0)
        {
            leftCandidates.UnionWith(await store.GetJoinedMembersAsync(leftRooms, ct));
        }

        leftCandidates.Remove(viewerUserId);
        var left = new List<string>();
        if (leftCandidates.Count > 0)
        {
            var stillShared = (await store.GetUsersSharingRoomAsync(viewerUserId, leftCandidates, ct)).ToHashSet(StringComparer.Ordinal);
            left.AddRange(leftCandidates.Where(u => !stillShared.Contains(u)));
        }

        changed.ExceptWith(left);
        return new DeviceListUpdates(changed.Order(StringComparer.Ordinal).ToList(), left.Order(StringComparer.Ordinal).ToList());
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A device list listener failed for {UserId}")]
    private partial void LogListenerFailed(Exception e, string userId);
}
