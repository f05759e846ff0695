using Homeserver.Core;

namespace Homeserver.Rooms.Persistence;

/// <summary>A room as stored: its internal number, ID and version.</summary>
public sealed record RoomRecord(long RoomNid, string RoomId, RoomVersion Version);

/// <summary>One forward extremity: an event with no known child in the room's timeline.</summary>
public sealed record Extremity(string EventId, long Depth);

/// <summary>
/// The head of a room: what a new local event is built on. <see cref="State"/> is the resolved state at the
/// forward extremities, stored as snapshot <see cref="SnapshotId"/> (an opaque storage handle).
/// </summary>
public sealed record RoomHead(
    RoomRecord Room,
    IReadOnlyList<Extremity> ForwardExtremities,
    long SnapshotId,
    IReadOnlyDictionary<StateKey, string> State,
    long LastStreamOrdering);

/// <summary>A client transaction that created an event: (user, device, txn ID).</summary>
public sealed record TransactionRef(string UserId, string DeviceId, string TxnId);

/// <summary>How the state before an event is stored.</summary>
public abstract record StateBefore
{
    private StateBefore()
    {
    }

    /// <summary>An existing snapshot (e.g. the room's current state for a local event on all extremities).</summary>
    public sealed record Existing(long SnapshotId) : StateBefore;

    /// <summary>The state after the previous event of the same batch.</summary>
    public sealed record AfterPrevious : StateBefore;

    /// <summary>A snapshot derived from an existing one by a delta (a null event ID removes the key).</summary>
    public sealed record Derived(long ParentSnapshotId, IReadOnlyDictionary<StateKey, string?> Delta) : StateBefore;

    /// <summary>No state: an outlier.</summary>
    public sealed record None : StateBefore;
}

/// <summary>One event to persist, with everything needed to place it in the DAG and the stream.</summary>
public sealed record EventToPersist(
    Pdu Event,
    StateBefore StateBefore,
    TransactionRef? Transaction = null,
    string? RejectionReason = null,
    bool SoftFailed = false)
{
    public bool IsOutlier => StateBefore is StateBefore.None;
}

/// <summary>
/// Events persisted in one transaction: each gets a stream position (in order) unless it is an outlier,
/// edges, state snapshots, and the room's forward extremities and current state move as given.
/// </summary>
public sealed record PersistBatch(
    IReadOnlyList<EventToPersist> Events,
    IReadOnlyCollection<string> ExtremitiesRemoved,
    IReadOnlyCollection<string> ExtremitiesAdded,
    bool CurrentStateIsStateAfterLastEvent)
{
    /// <summary>
    /// When the room's new current state is not simply the state after the last event (e.g. the result of resolving
    /// several forward extremities): how to build it. Null leaves the current state as it is (unless
    /// <see cref="CurrentStateIsStateAfterLastEvent"/>).
    /// </summary>
    public StateBefore? NewCurrentState { get; init; }

    /// <summary>
    /// Every event was just built by this server's writer (a fresh hash over a fresh timestamp and the room's current
    /// extremities), so none can be stored already, as an outlier or otherwise: the store need not look.
    /// </summary>
    public bool NewlyBuilt { get; init; }

    /// <summary>
    /// The events' search rows are left to the search indexer (<c>SearchIndexer</c>), which writes them after the commit,
    /// off the room writer's serial path; the writer announces the events to it before their stream positions become
    /// readable.
    /// </summary>
    public bool DeferSearch { get; init; }

    /// <summary>
    /// History fetched from another server: the events take the (negative) stream position given, sort before the
    /// live timeline, and move neither the forward extremities, the current state nor the room's stream position.
    /// </summary>
    public bool Backfilled { get; init; }
}

/// <summary>
/// Thrown by <see cref="IRoomStore.PersistAsync"/> when client transactions of the batch already created events (a
/// retry the writer no longer remembered, e.g. after a restart). Nothing of the batch was written.
/// </summary>
public sealed class DuplicateTransactionException(IReadOnlyDictionary<TransactionRef, string> stored)
    : Exception("client transactions of the batch already created events")
{
    /// <summary>The repeated transactions and the events they created.</summary>
    public IReadOnlyDictionary<TransactionRef, string> Stored { get; } = stored;
}

/// <summary>What is known about a stored event besides its JSON.</summary>
public sealed record EventMeta(string EventId, long RoomNid, bool Outlier, string? RejectionReason, bool SoftFailed, long? StateBefore, long? StateAfter, long Depth)
{
    public bool Rejected => RejectionReason is not null;

    /// <summary>In the timeline, or rejected: either way no gap that backfill could fill.</summary>
    public bool Placed => !Outlier || Rejected;
}

/// <summary>What a persisted batch became: each event's stream position and the room's new head.</summary>
public sealed record PersistResult(IReadOnlyList<long?> StreamOrderings, RoomHead Head);

/// <summary>
/// Storage of rooms and their events (implemented by Homeserver.Storage). Every write for one room comes
/// from that room's single writer, so implementations need no locking of their own beyond the transaction.
/// </summary>
public interface IRoomStore
{
    Task<RoomRecord?> GetRoomAsync(string roomId, CancellationToken ct);

    /// <summary>Creates the room row; false if it already exists.</summary>
    Task<RoomRecord> CreateRoomAsync(string roomId, RoomVersion version, long createdTs, CancellationToken ct);

    Task<RoomHead> LoadHeadAsync(RoomRecord room, CancellationToken ct);

    /// <summary>The events we hold with these IDs (missing ones are absent from the result).</summary>
    Task<IReadOnlyDictionary<string, Pdu>> GetEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken ct);

    /// <summary>
    /// Stores a membership event of a room we hold no state for (an invite or knock from another server, or our
    /// rejection of such an invite) and records the user's membership, with a stream position so sync sees it.
    /// </summary>
    Task PersistOutOfBandMembershipAsync(RoomRecord room, Pdu member, long streamOrdering, CancellationToken ct);

    /// <summary>The event of a user's current membership in a room (from the membership table, so also for rooms without state).</summary>
    Task<string?> GetMembershipEventIdAsync(long roomNid, string userId, CancellationToken ct);

    /// <summary>Metadata of stored events (unknown IDs are absent).</summary>
    Task<IReadOnlyDictionary<string, EventMeta>> GetEventMetaAsync(IReadOnlyCollection<string> eventIds, CancellationToken ct);

    /// <summary>The snapshot of a state map: an existing snapshot of equal content, or a new one derived from <paramref name="parentSnapshot"/>.</summary>
    Task<IReadOnlyDictionary<StateKey, string>> GetSnapshotStateAsync(long snapshotId, CancellationToken ct);

    /// <summary>
    /// Persists the batch in one transaction, using the stream positions reserved by the caller. A client transaction
    /// that already created an event fails the whole batch with <see cref="DuplicateTransactionException"/>.
    /// </summary>
    Task<PersistResult> PersistAsync(RoomHead head, PersistBatch batch, long firstStreamOrdering, CancellationToken ct);

    /// <summary>A stream position for a backfilled event: negative, below every position handed out before.</summary>
    Task<long> TakeBackfillOrderingAsync(CancellationToken ct);
}
