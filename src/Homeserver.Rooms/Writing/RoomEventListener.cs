using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Writing;

/// <summary>An event that was persisted into a room's timeline, with its stream position.</summary>
public sealed record PersistedEvent(Pdu Event, long? StreamOrdering, bool SoftFailed)
{
    /// <summary>Its search row is not written yet: the search indexer writes it (see PersistBatch.DeferSearch).</summary>
    public bool SearchDeferred { get; init; }
}

/// <summary>
/// Told after every committed batch of a room (sync wake-ups, federation sending, push evaluation).
/// Called on the room's writer: implementations must return quickly and must not throw.
/// </summary>
public interface IRoomEventListener
{
    void OnPersisted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head);
}
