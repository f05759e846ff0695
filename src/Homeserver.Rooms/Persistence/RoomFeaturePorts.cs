using Homeserver.Core.Streams;

namespace Homeserver.Rooms.Persistence;

/// <summary>What the server bundles into <c>unsigned."m.relations"</c> of one event (see the relations module).</summary>
public sealed record EventAggregations(
    string? LatestEditId,
    ThreadSummary? Thread,
    IReadOnlyList<string> References);

/// <summary>A thread root's summary: how many events the thread has, the latest, and whether the user took part.</summary>
public sealed record ThreadSummary(int Count, string LatestEventId, bool CurrentUserParticipated);

/// <summary>A thread root of a room and the position of its latest event (threads are listed most recent first).</summary>
public sealed record ThreadRoot(string RootEventId, PaginationToken Latest);

/// <summary>Reads of the <c>event_relations</c> table (implemented by Homeserver.Storage).</summary>
public interface IRelationStore
{
    /// <summary>
    /// The aggregations of these events in one query: the latest valid edit (same sender and type as the original),
    /// the thread summary (with participation of <paramref name="userId"/>) and the references. Events with none are absent.
    /// </summary>
    Task<IReadOnlyDictionary<string, EventAggregations>> GetAggregationsAsync(IReadOnlyCollection<string> eventIds, string? userId, CancellationToken ct);

    /// <summary>
    /// Events relating to <paramref name="parentId"/> (recursively, up to <paramref name="maxDepth"/> levels, when above 1),
    /// optionally of one relation type and event type, in topological order from <paramref name="from"/> (exclusive),
    /// stopping at <paramref name="to"/>. Backwards: newest first.
    /// </summary>
    Task<IReadOnlyList<StoredEvent>> GetRelationsAsync(
        long roomNid, string parentId, string? relType, string? eventType, PaginationToken? from, PaginationToken? to, bool backwards, int limit, int maxDepth, CancellationToken ct);

    /// <summary>Thread roots of a room, by their latest event, newest first, before <paramref name="before"/>; only those <paramref name="participant"/> took part in, if given.</summary>
    Task<IReadOnlyList<ThreadRoot>> GetThreadsAsync(long roomNid, string? participant, PaginationToken? before, int limit, CancellationToken ct);
}

/// <summary>A published or otherwise described room as the directory, the space hierarchy and the room summary show it.</summary>
public sealed record RoomDescription(
    string RoomId,
    long RoomNid,
    string RoomVersion,
    int JoinedMembers,
    string? Name,
    string? Topic,
    string? AvatarUrl,
    string? CanonicalAlias,
    string JoinRule,
    string HistoryVisibility,
    string? GuestAccess,
    string? RoomType,
    string? Encryption,
    IReadOnlyList<string> AllowedRoomIds)
{
    public bool WorldReadable => HistoryVisibility == "world_readable";

    public bool GuestCanJoin => GuestAccess == "can_join";
}

/// <summary>A content report to store.</summary>
public sealed record ContentReport(string RoomId, string? EventId, string UserId, string? Reason, int? Score, long ReceivedTs);

/// <summary>Room-level reads and writes beside the DAG: descriptions, reports, forgetting, lookups by time (implemented by Homeserver.Storage).</summary>
public interface IRoomFeatureStore
{
    /// <summary>Descriptions of rooms from their current state, in one query; rooms without state are absent.</summary>
    Task<IReadOnlyList<RoomDescription>> DescribeRoomsAsync(IReadOnlyCollection<long> roomNids, CancellationToken ct);

    /// <summary>The rooms published in the room directory (with the room number when we know the room).</summary>
    Task<IReadOnlyList<long>> GetPublishedRoomNidsAsync(CancellationToken ct);

    Task AddReportAsync(ContentReport report, CancellationToken ct);

    /// <summary>Marks the user's (left or banned) membership forgotten; a later membership change clears the mark.</summary>
    Task ForgetAsync(long roomNid, string userId, CancellationToken ct);

    /// <summary>The event closest to <paramref name="ts"/> in the timeline (at or after it going forwards, at or before it backwards).</summary>
    Task<StoredEvent?> FindEventByTimestampAsync(long roomNid, long ts, bool forwards, CancellationToken ct);
}

/// <summary>The users a user ignores (global account data <c>m.ignored_user_list</c>; implemented by Homeserver.Storage).</summary>
public interface IIgnoredUsersStore
{
    Task<IReadOnlySet<string>> GetIgnoredUsersAsync(string userId, CancellationToken ct);
}
