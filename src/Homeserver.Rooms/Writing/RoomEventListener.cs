using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Writing;

/// <summary>An event that was persisted into a room's timeline, with its stream position.</summary>
public sealed record PersistedEvent(Pdu Event, long? StreamOrdering, bool SoftFailed);

/// <summary>
/// Told after every committed batch of a room (sync wake-ups, federation sending, push evaluation).
/// Called on the room's writer: implementations must return quickly and must not throw.
/// </summary>
public interface IRoomEventListener
{
    void OnPersisted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head);
}

/// <summary>
/// Told after a local writer's batch (written with PersistBatch.DeferSearch) is committed and <em>before</em> its stream positions become readable, for a
/// consumer that must know of every event at or below the stream's current position (the search indexer's recovery
/// point). Listeners that read up to the current position (the federation sender) are told after the release instead
/// (<see cref="IRoomEventListener"/>). Called on the room's writer: must return quickly and must not throw.
/// </summary>
public interface IRoomCommitListener
{
    void OnCommitted(RoomRecord room, IReadOnlyList<PersistedEvent> events);
}
