namespace Homeserver.Sync.Receipts;

/// <summary>Receipt types (client-server API, "Receipts" and "Read markers").</summary>
public static class ReceiptTypes
{
    public const string Read = "m.read";
    public const string ReadPrivate = "m.read.private";
    public const string FullyRead = "m.fully_read";

    /// <summary>The thread ID of the main timeline in threaded receipts.</summary>
    public const string MainThread = "main";
}

/// <summary>
/// One user's receipt of one type in one room, per thread (<see cref="ThreadId"/> is empty for an
/// unthreaded receipt). <see cref="StreamId"/> is its position in the global stream.
/// </summary>
public sealed record Receipt(string RoomId, string ReceiptType, string UserId, string ThreadId, string EventId, long Ts, long StreamId)
{
    public bool IsPrivate => ReceiptType == ReceiptTypes.ReadPrivate;

    /// <summary>The receipt's data object, as clients and other servers receive it: <c>{"ts", "thread_id"?}</c>.</summary>
    public void WriteData(System.Text.Json.Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("ts"u8, Ts);
        if (ThreadId.Length > 0)
        {
            w.WriteString("thread_id"u8, ThreadId);
        }

        w.WriteEndObject();
    }
}

/// <summary>
/// Told after a receipt (<c>m.read</c> or <c>m.read.private</c>) moved forward and was stored: the push module
/// resets the user's notification counts up to the event; federation sends public receipts of local users to the
/// room's other servers. <paramref name="eventStreamOrdering"/> is the stream ordering of the receipt's event.
/// </summary>
public interface IReceiptListener
{
    Task OnReceiptAsync(Receipt receipt, long eventStreamOrdering, CancellationToken ct);
}

/// <summary>Receipts by stream position (implemented by Homeserver.Storage, table <c>receipts</c>).</summary>
public interface IReceiptStore
{
    /// <summary>
    /// Stores the receipt unless the user already has one of the same type and thread on an event that is
    /// not earlier (receipts only move forward, as in Synapse). Returns whether it was stored.
    /// </summary>
    Task<bool> UpsertAsync(Receipt receipt, long eventStreamOrdering, CancellationToken ct);

    /// <summary>
    /// The receipts of the rooms written in (<paramref name="afterStream"/>, <paramref name="upToStream"/>]
    /// (all current ones when afterStream is 0). Private receipts of anyone but <paramref name="viewerUserId"/> are left out.
    /// </summary>
    Task<IReadOnlyList<Receipt>> GetReceiptsAsync(IReadOnlyCollection<string> roomIds, long afterStream, long upToStream, string viewerUserId, CancellationToken ct);

    /// <summary>The receipts pointing at the given events, plus the viewer's own in those rooms (private ones only the viewer's).</summary>
    Task<IReadOnlyList<Receipt>> GetReceiptsForEventsAsync(
        IReadOnlyCollection<string> roomIds, IReadOnlyCollection<string> eventIds, long upToStream, string viewerUserId, CancellationToken ct);
}

/// <summary>
/// The <c>m.fully_read</c> marker, kept as room account data (table <c>account_data</c>). A narrow port for the
/// read-markers API; the accounts module owns the general account-data API.
/// </summary>
public interface IReadMarkerStore
{
    /// <summary>The content of a room account data entry, or null.</summary>
    Task<string?> GetRoomAccountDataAsync(string userId, string roomId, string type, CancellationToken ct);

    /// <summary>Writes a room account data entry at a reserved stream position.</summary>
    Task SetRoomAccountDataAsync(string userId, string roomId, string type, string content, long streamId, CancellationToken ct);
}
