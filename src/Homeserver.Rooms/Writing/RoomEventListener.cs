using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Writing;

/// <summary>An event that was persisted into a room's timeline, with its stream position.</summary>
public sealed record PersistedEvent(Pdu Event, long? StreamOrdering, bool SoftFailed);

/// <summary>
/// Told after every committed batch of a room, once its stream positions are readable (sync wake-ups, federation
/// sending). Called on the room's writer: implementations must return quickly and must not throw.
/// </summary>
public interface IRoomEventListener
{
    void OnPersisted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head);
}

/// <summary>
/// Told after every committed batch of a room and <em>before</em> its stream positions become readable, for a
/// background consumer that records how far it is done (the search indexer, the notification evaluator): when it is
/// told of every event at or below the stream's current position before anyone can read that position, the lowest
/// event it has not finished bounds its recorded position (<see cref="Homeserver.Core.Streams.PendingPositions.DoneThrough"/>).
/// Listeners that read up to the current position (the federation sender) are told after the release instead
/// (<see cref="IRoomEventListener"/>). Called on the room's writer: must return quickly and must not throw.
/// </summary>
public interface IRoomCommitListener
{
    /// <param name="room">The room.</param>
    /// <param name="events">The batch's events.</param>
    /// <param name="head">The room's head after the batch.</param>
    /// <param name="searchDeferred">
    /// The batch was written without its search rows (<see cref="PersistBatch.DeferSearch"/>, a local writer's batch);
    /// otherwise they were written with the events.
    /// </param>
    void OnCommitted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head, bool searchDeferred);
}
