using Homeserver.Core;
using Homeserver.Core.Streams;

namespace Homeserver.Rooms.Persistence;

/// <summary>An event with what the client API needs besides its JSON.</summary>
public sealed record StoredEvent(
    Pdu Event,
    long? StreamOrdering,
    long TopologicalOrdering,
    string? RedactedBy,
    TransactionRef? Transaction,
    long? StateBefore,
    long? StateAfter)
{
    public string EventId => Event.EventId;

    /// <summary>The pagination position just before this event.</summary>
    public PaginationToken TokenBefore => new(TopologicalOrdering, (StreamOrdering ?? 0) - 1);

    /// <summary>The pagination position of this event.</summary>
    public PaginationToken Token => new(TopologicalOrdering, StreamOrdering ?? 0);
}

/// <summary>A user's current membership in a room.</summary>
public sealed record UserRoomMembership(string RoomId, long RoomNid, RoomVersion Version, string Membership, string EventId, long StreamOrdering);

/// <summary>A member of a room (current state).</summary>
public sealed record RoomMember(string UserId, string Membership, string EventId);

/// <summary>Reads of the event DAG for the client API and sync (implemented by Homeserver.Storage). Never blocks writers.</summary>
public interface IRoomReadStore
{
    /// <summary>Events with their metadata; unknown IDs are absent.</summary>
    Task<IReadOnlyList<StoredEvent>> GetStoredEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken ct);

    /// <summary>
    /// Up to <paramref name="limit"/> timeline events of a room from <paramref name="from"/> (exclusive) in
    /// the given direction, stopping at <paramref name="to"/> (exclusive) if given. Backwards: newest first.
    /// Rejected and soft-failed events are skipped.
    /// </summary>
    Task<IReadOnlyList<StoredEvent>> PaginateAsync(long roomNid, PaginationToken from, PaginationToken? to, bool backwards, int limit, CancellationToken ct);

    /// <summary>
    /// Where the room's timeline starts without its beginning (a room joined late, over federation): the prev events of
    /// its oldest timeline events (by depth) that we hold neither in the timeline nor as rejected events, each with the
    /// depth of the event naming it, deepest first. Empty when the timeline reaches the room's create event.
    /// </summary>
    Task<IReadOnlyList<(string EventId, long Depth)>> GetBackwardExtremitiesAsync(long roomNid, CancellationToken ct);

    /// <summary>The latest events of a room with stream positions in (<paramref name="afterStream"/>, <paramref name="upToStream"/>], newest first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<StoredEvent>> GetLatestEventsAsync(long roomNid, long afterStream, long upToStream, int limit, CancellationToken ct);

    /// <summary>The latest timeline event of a room at or before a stream position (its state is the room's state then).</summary>
    Task<StoredEvent?> GetLastEventAtAsync(long roomNid, long upToStream, CancellationToken ct);

    /// <summary>Every room the user has a membership in, with that membership.</summary>
    Task<IReadOnlyList<UserRoomMembership>> GetUserMembershipsAsync(string userId, CancellationToken ct);

    /// <summary>
    /// Rooms among <paramref name="roomNids"/> with timeline events in (<paramref name="afterStream"/>, <paramref name="upToStream"/>];
    /// may also name rooms whose only news is after <paramref name="upToStream"/> (callers read each room up to it anyway).
    /// </summary>
    Task<IReadOnlyCollection<long>> GetRoomsWithEventsAsync(IReadOnlyCollection<long> roomNids, long afterStream, long upToStream, CancellationToken ct);

    Task<IReadOnlyList<RoomMember>> GetMembersAsync(long roomNid, CancellationToken ct);

    /// <summary>The full state of a snapshot (see <see cref="StoredEvent.StateBefore"/>).</summary>
    Task<IReadOnlyDictionary<StateKey, string>> GetStateAsync(long snapshotId, CancellationToken ct);

    /// <summary>Some entries of a snapshot (absent keys are absent from the result).</summary>
    Task<IReadOnlyDictionary<StateKey, string>> GetStateEntriesAsync(long snapshotId, IReadOnlyCollection<StateKey> keys, CancellationToken ct);
}
