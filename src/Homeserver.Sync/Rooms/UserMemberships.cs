using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Sync.Rooms;

/// <summary>A user's memberships as of a stream position, for sync and sliding sync.</summary>
public sealed class UserMemberships(IRoomReadStore reads)
{
    /// <summary>
    /// The user's memberships as of <paramref name="upTo"/>: a membership changed after it (still being written when
    /// the position was taken) is replaced by the one the room's state held at the position, so that this answer
    /// and the next agree.
    /// </summary>
    public async Task<List<UserRoomMembership>> AtAsync(string userId, long upTo, CancellationToken ct)
    {
        var result = new List<UserRoomMembership>();
        foreach (var m in await reads.GetUserMembershipsAsync(userId, ct))
        {
            if (m.StreamOrdering <= upTo)
            {
                result.Add(m);
                continue;
            }

            var last = await reads.GetLastEventAtAsync(m.RoomNid, upTo, ct);
            var key = new StateKey(EventTypes.Member, userId);
            if (last?.StateAfter is not { } snapshot || !(await reads.GetStateEntriesAsync(snapshot, [key], ct)).TryGetValue(key, out var eventId))
            {
                continue;
            }

            var earlier = (await reads.GetStoredEventsAsync([eventId], ct)).FirstOrDefault();
            if (earlier?.Event.Membership is { } membership && earlier.StreamOrdering is { } position)
            {
                result.Add(m with { Membership = membership, EventId = eventId, StreamOrdering = position });
            }
        }

        return result;
    }

    /// <summary>
    /// For a room the user left or was banned from: null when they were never joined before that (a rejected invite,
    /// a ban while invited), so that only their own membership event may be shown; else whether they were joined at
    /// <paramref name="since"/> (false when since is null).
    /// </summary>
    public async Task<bool?> WasJoinedBeforeAsync(UserRoomMembership m, long? since, CancellationToken ct)
    {
        var leave = (await reads.GetStoredEventsAsync([m.EventId], ct)).FirstOrDefault();
        if (leave?.StateBefore is not { } before || leave.Event.StateKey is not { } userId)
        {
            return null;
        }

        var key = new StateKey(EventTypes.Member, userId);
        if (await MembershipInAsync(before, key, ct) != Membership.Join)
        {
            return null;
        }

        if (since is null)
        {
            return false;
        }

        return await WasJoinedAtAsync(userId, m, since.Value, ct);
    }

    /// <summary>Whether the user was joined to the room at <paramref name="since"/> (a join since then that finds them joined is a profile change).</summary>
    public async Task<bool> WasJoinedAtAsync(string userId, UserRoomMembership m, long since, CancellationToken ct)
    {
        var atSince = await reads.GetLastEventAtAsync(m.RoomNid, since, ct);
        return atSince?.StateAfter is { } snapshot && await MembershipInAsync(snapshot, new StateKey(EventTypes.Member, userId), ct) == Membership.Join;
    }

    private async Task<string?> MembershipInAsync(long snapshot, StateKey key, CancellationToken ct)
    {
        var entries = await reads.GetStateEntriesAsync(snapshot, [key], ct);
        if (!entries.TryGetValue(key, out var id))
        {
            return null;
        }

        return (await reads.GetStoredEventsAsync([id], ct)).FirstOrDefault()?.Event.Membership;
    }
}
