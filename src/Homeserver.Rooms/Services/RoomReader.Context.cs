using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Services;

/// <summary>The events around one event, as /context returns them.</summary>
public sealed record EventContext(
    StoredEvent Event,
    IReadOnlyList<StoredEvent> Before,
    IReadOnlyList<StoredEvent> After,
    IReadOnlyList<StoredEvent> State,
    PaginationToken Start,
    PaginationToken End);

public sealed partial class RoomReader
{
    /// <summary>
    /// GET /context: up to <paramref name="limit"/> events around <paramref name="eventId"/> (half before, the rest after, as
    /// Synapse), each filtered by history visibility, the filter and the ignored-users list, and the state at the last
    /// event returned (only the senders' member events when the filter lazy-loads members). The tokens are those of the
    /// last events read, so that pagination from them never skips an event that a filter dropped.
    /// </summary>
    public async Task<EventContext> GetContextAsync(string userId, RoomRecord room, string eventId, int limit, RoomEventFilter filter, CancellationToken ct)
    {
        // Someone not in the room is refused outright (403, as /messages and Synapse), not told "not found".
        var current = await RequireMayReadRoomAsync(userId, room, ct);
        var target = await GetEventAsync(userId, room, eventId, ct);
        var ignored = ignoredUsers is null ? new HashSet<string>() : await ignoredUsers.GetAsync(userId, ct);
        if (IgnoredUsers.IsHidden(ignored, target.Event))
        {
            throw MatrixException.NotFound("Event not found");
        }

        var beforeLimit = limit / 2;
        var afterLimit = limit - beforeLimit;
        var rawBefore = beforeLimit == 0 ? [] : await reads.PaginateAsync(room.RoomNid, target.Token, null, backwards: true, beforeLimit, ct);
        var rawAfter = afterLimit == 0 ? [] : await reads.PaginateAsync(room.RoomNid, target.Token, null, backwards: false, afterLimit, ct);

        var before = IgnoredUsers.Apply(ignored, filter.Apply(await visibility.FilterAsync(userId, current, rawBefore, ct)));
        var after = IgnoredUsers.Apply(ignored, filter.Apply(await visibility.FilterAsync(userId, current, rawAfter, ct)));

        var last = rawAfter.Count > 0 ? rawAfter[^1] : target;
        IReadOnlyList<StoredEvent> state = [];
        if (last.StateAfter is { } snapshot)
        {
            IReadOnlyCollection<string> ids;
            if (filter.LazyLoadMembers)
            {
                var senders = before.Concat(after).Append(target).Select(e => new StateKey(EventTypes.Member, e.Event.Sender)).ToHashSet();
                var entries = await reads.GetStateAsync(snapshot, ct);
                ids = entries.Where(kv => kv.Key.Type != EventTypes.Member || senders.Contains(kv.Key)).Select(kv => kv.Value).ToList();
            }
            else
            {
                ids = (await reads.GetStateAsync(snapshot, ct)).Values.ToList();
            }

            state = await reads.GetStoredEventsAsync(ids, ct);
        }

        var start = rawBefore.Count > 0 ? rawBefore[^1].Token : target.Token;
        var end = last.Token;
        return new EventContext(target, before, after, state, start, end);
    }

    /// <summary>
    /// GET /timestamp_to_event: the event closest to <paramref name="ts"/> in the given direction, among those the user may see.
    /// 404 when there is none.
    /// </summary>
    public async Task<StoredEvent> FindEventByTimestampAsync(string userId, RoomRecord room, long ts, bool forwards, CancellationToken ct)
    {
        if (features is null)
        {
            throw MatrixException.NotFound("Unable to find an event in that direction");
        }

        var current = await RequireMayReadRoomAsync(userId, room, ct);
        var found = await features.FindEventByTimestampAsync(room.RoomNid, ts, forwards, ct);
        if (found is null || (await visibility.FilterAsync(userId, current, [found], ct)).Count == 0)
        {
            throw MatrixException.NotFound($"Unable to find event from {ts} in direction {(forwards ? "f" : "b")}");
        }

        return found;
    }

    /// <summary>
    /// A member, a former member who left (not one who was banned) or anyone when the room is world-readable may read a
    /// room's timeline (Synapse's check_user_in_room_or_world_readable with departed users); anyone else, the invited
    /// included, gets 403. Returns the membership.
    /// </summary>
    public async Task<string?> RequireMayReadRoomAsync(string userId, RoomRecord room, CancellationToken ct)
    {
        var current = await rooms.GetMembershipAsync(room, userId, ct);
        if (current is Membership.Join or Membership.Leave)
        {
            return current;
        }

        if (await IsWorldReadableAsync(await rooms.GetHeadAsync(room, ct), ct))
        {
            return current;
        }

        throw MatrixException.Forbidden($"User {userId} not in room {room.RoomId}, and room previews are disabled");
    }

    /// <summary>The visible events of <paramref name="events"/> for the user, without those of users they ignore.</summary>
    public async Task<IReadOnlyList<StoredEvent>> FilterVisibleAsync(string userId, RoomRecord room, IReadOnlyList<StoredEvent> events, CancellationToken ct)
    {
        if (events.Count == 0)
        {
            return events;
        }

        var current = await rooms.GetMembershipAsync(room, userId, ct);
        var visible = await visibility.FilterAsync(userId, current, events, ct);
        return ignoredUsers is null ? visible : await ignoredUsers.FilterAsync(userId, visible, ct);
    }
}
