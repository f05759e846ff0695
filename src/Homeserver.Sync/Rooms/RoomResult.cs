using Homeserver.Rooms.Persistence;

namespace Homeserver.Sync.Rooms;

/// <summary>
/// One room to put in a sync answer.
/// </summary>
/// <param name="Membership">The requester's membership as of the answer's position.</param>
/// <param name="Joined">Whether the room goes in <c>join</c> (else <c>leave</c>).</param>
/// <param name="TimelineAfter">The timeline starts after this stream position (0: the latest events, however old).</param>
/// <param name="UpTo">The timeline ends at this stream position (the leave event for a left room).</param>
/// <param name="StateSince">Null for the full state at the start of the timeline; else the state delta since this position.</param>
/// <param name="NewlyJoined">The requester joined since the last sync (or this is an initial or full-state sync).</param>
/// <param name="OnlyMembershipEvent">The requester was never joined (a rejected invite, a ban): show only their own membership event.</param>
/// <param name="TimelineLimit">This room's timeline limit (sliding sync sets one per room); null for the filter's.</param>
public sealed record RoomWork(
    UserRoomMembership Membership,
    bool Joined,
    long TimelineAfter,
    long UpTo,
    long? StateSince,
    bool NewlyJoined,
    bool OnlyMembershipEvent = false,
    int? TimelineLimit = null)
{
    /// <summary>
    /// The requester joined since the token of an incremental sync: the timeline is marked limited whatever it holds,
    /// so that clients drop what they had of the room (as Synapse's <c>limited or newly_joined_room</c>).
    /// </summary>
    public bool JoinedSinceToken { get; init; }
}

/// <summary>A room's timeline as built, with the state snapshots at its start and at its end.</summary>
public sealed record RoomTimeline(RoomWork Work, RoomResult Result, long? StartSnapshot, long? EndSnapshot);

/// <summary>The part of a sync answer about one joined or left room.</summary>
public sealed class RoomResult(string roomId)
{
    public string RoomId { get; } = roomId;

    public List<StoredEvent> Timeline { get; } = [];

    public List<StoredEvent> State { get; } = [];

    public bool Limited { get; set; }

    public string PrevBatch { get; set; } = string.Empty;

    public List<AccountDataEntry> AccountData { get; } = [];

    /// <summary>Null when unchanged since the last sync (written as an empty object).</summary>
    public RoomSummaryResult? Summary { get; set; }

    public bool HasContent => Timeline.Count > 0 || State.Count > 0 || AccountData.Count > 0;
}

/// <summary>The <c>summary</c> of a joined room; <see cref="Heroes"/> is null when the room has a name or canonical alias.</summary>
public sealed record RoomSummaryResult(IReadOnlyList<string>? Heroes, int Joined, int Invited);
