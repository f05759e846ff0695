using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;

namespace Homeserver.Sync;

/// <summary>What every contributor to one sync answer knows: who asks, from where, up to where.</summary>
public sealed record SyncContext(
    Requester Requester,
    SyncToken? Since,
    SyncToken UpTo,
    SyncFilter Filter,
    bool FullState,
    IReadOnlyCollection<string> JoinedRoomIds)
{
    /// <summary>Rooms the requester joined after <see cref="Since"/> (empty on an initial sync): their members are new to the client.</summary>
    public IReadOnlyCollection<string> NewlyJoinedRoomIds { get; init; } = [];

    /// <summary>Rooms the requester left (or was removed from) after <see cref="Since"/>.</summary>
    public IReadOnlyCollection<string> NewlyLeftRoomIds { get; init; } = [];
}

/// <summary>One contribution to a sync answer: it writes its own properties, and says whether it has anything to say.</summary>
public interface ISyncContribution
{
    /// <summary>False when this contribution alone would not justify answering a long-poll.</summary>
    bool HasContent { get; }

    /// <summary>Writes the contribution's top-level properties into the open answer object.</summary>
    void Write(Utf8JsonWriter writer);
}

/// <summary>
/// A top-level section of <c>/sync</c> provided by another module: <c>to_device</c>, <c>device_lists</c>,
/// <c>device_one_time_keys_count</c>, <c>presence</c>... Registered in DI; the sync service calls every one.
/// </summary>
public interface ISyncSection
{
    Task<ISyncContribution> ComputeAsync(SyncContext context, CancellationToken ct);
}

/// <summary>
/// Per-room additions to the <c>join</c> section provided by another module: ephemeral events (typing,
/// receipts), <c>unread_notifications</c>... Written inside each joined room's object.
/// </summary>
public interface IRoomSyncSection
{
    /// <summary>Contributions for the given joined rooms; rooms without anything to add may be absent.</summary>
    Task<IReadOnlyDictionary<string, IRoomSyncContribution>> ComputeAsync(SyncContext context, IReadOnlyCollection<string> roomIds, CancellationToken ct);
}

/// <summary>One module's addition to one joined room.</summary>
public interface IRoomSyncContribution
{
    bool HasContent { get; }

    /// <summary>Ephemeral events for the room's <c>ephemeral.events</c> array (written as array items).</summary>
    void WriteEphemeralEvents(Utf8JsonWriter writer);

    /// <summary>Extra properties of the room object (e.g. <c>unread_notifications</c>).</summary>
    void WriteRoomProperties(Utf8JsonWriter writer);
}

/// <summary>The position of the in-memory ephemeral stream (typing) that sync tokens carry beside the persisted stream.</summary>
public interface IEphemeralPositions
{
    long Current { get; }
}
