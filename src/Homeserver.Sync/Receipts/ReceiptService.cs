using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;
using Homeserver.Sync.Federation;
using Homeserver.Sync.Presence;
using Homeserver.Sync.Rooms;

namespace Homeserver.Sync.Receipts;

/// <summary>
/// Read receipts and the fully-read marker (client-server API, "Receipts" and "Read markers").
/// Receipts are persisted at a position of the global stream (reserved around the write and released after
/// commit) and wake the room's joined members; a private receipt wakes only its owner, who alone sees it.
/// Receipts of other servers' users (<see cref="StoreRemoteReceiptAsync"/>) are stored the same way, so sync shows them,
/// but the listeners (notification counts, federation) only hear of our own users' receipts.
/// </summary>
public sealed class ReceiptService(
    RoomService rooms,
    RoomReader reader,
    IReceiptStore store,
    IReadMarkerStore markers,
    StreamPositions streams,
    SyncNotifier notifier,
    RoomAudience audience,
    EventLookup lookup,
    PresenceService presence,
    IEnumerable<IReceiptListener> listeners,
    TimeProvider time)
{
    /// <summary>The receipt types a client may send (m.fully_read is handled as the read marker).</summary>
    public static readonly IReadOnlyList<string> KnownTypes = [ReceiptTypes.Read, ReceiptTypes.ReadPrivate, ReceiptTypes.FullyRead];

    /// <summary>How many relations are followed to find the thread of an event (the spec recommends 3).</summary>
    private const int MaxRelationHops = 3;

    /// <summary>
    /// POST /rooms/{roomId}/receipt/{receiptType}/{eventId}: sets the requester's receipt. The event must be one
    /// the requester can see; a <paramref name="threadId"/> (<c>main</c> or a thread root) must match the event's thread.
    /// </summary>
    public async Task SendReceiptAsync(Requester requester, string roomId, string receiptType, string eventId, string? threadId, CancellationToken ct)
    {
        if (!KnownTypes.Contains(receiptType))
        {
            throw MatrixException.InvalidParam($"Receipt type must be {string.Join(", ", KnownTypes)}");
        }

        if (threadId is not null)
        {
            if (threadId.Length == 0)
            {
                throw MatrixException.InvalidParam("thread_id field must be a non-empty string");
            }

            if (receiptType == ReceiptTypes.FullyRead)
            {
                throw MatrixException.InvalidParam("thread_id is not compatible with m.fully_read receipts");
            }
        }

        var stored = await GetVisibleEventAsync(requester, roomId, eventId, ct);
        if (threadId is not null && !await IsInThreadAsync(stored.Event, threadId, ct))
        {
            throw MatrixException.InvalidParam($"event_id {eventId} is not related to thread {threadId}");
        }

        presence.BumpActive(requester);
        if (receiptType == ReceiptTypes.FullyRead)
        {
            await SetFullyReadAsync(requester.UserId, roomId, stored, ct);
        }
        else
        {
            await StoreReceiptAsync(requester.UserId, roomId, receiptType, threadId ?? string.Empty, stored, ct);
        }
    }

    /// <summary>
    /// POST /rooms/{roomId}/read_markers: the fully-read marker and, in the same call, the public and private
    /// read receipts (each as if sent to /receipt, unthreaded).
    /// </summary>
    public async Task SetReadMarkersAsync(Requester requester, string roomId, string? fullyRead, string? read, string? readPrivate, CancellationToken ct)
    {
        if (await rooms.FindRoomAsync(roomId, ct) is null)
        {
            throw MatrixException.NotFound("Unknown room");
        }

        presence.BumpActive(requester);
        if (fullyRead is not null)
        {
            var stored = await GetVisibleEventAsync(requester, roomId, fullyRead, ct);
            await SetFullyReadAsync(requester.UserId, roomId, stored, ct);
        }

        if (read is not null)
        {
            var stored = await GetVisibleEventAsync(requester, roomId, read, ct);
            await StoreReceiptAsync(requester.UserId, roomId, ReceiptTypes.Read, string.Empty, stored, ct);
        }

        if (readPrivate is not null)
        {
            var stored = await GetVisibleEventAsync(requester, roomId, readPrivate, ct);
            await StoreReceiptAsync(requester.UserId, roomId, ReceiptTypes.ReadPrivate, string.Empty, stored, ct);
        }
    }

    /// <summary>
    /// Stores a public receipt of another server's user from an <c>m.receipt</c> EDU that <see cref="ReceiptEduHandler"/>
    /// has checked (the user belongs to the origin and is joined). Of the receipt's events, the latest one we hold in
    /// that room counts (as Synapse's "graph to linear"); a thread ID must be <c>main</c> or an event of the room.
    /// Returns whether it was stored (false for unknown events and receipts that do not move forward).
    /// </summary>
    public async Task<bool> StoreRemoteReceiptAsync(ReceiptEdu edu, CancellationToken ct)
    {
        var known = await reader.GetStoredAsync(edu.ThreadId is { } t && t != ReceiptTypes.MainThread ? [.. edu.EventIds, t] : edu.EventIds, ct);
        var target = known
            .Where(e => e.Event.RoomId == edu.RoomId && e.StreamOrdering is not null && edu.EventIds.Contains(e.EventId, StringComparer.Ordinal))
            .MaxBy(e => e.StreamOrdering);
        if (target is null)
        {
            return false;
        }

        if (edu.ThreadId is { } thread && thread != ReceiptTypes.MainThread && !known.Any(e => e.EventId == thread && e.Event.RoomId == edu.RoomId))
        {
            return false;
        }

        long position;
        using (var reservation = streams.Reserve())
        {
            position = reservation.First;
            var receipt = new Receipt(edu.RoomId, edu.ReceiptType, edu.UserId, edu.ThreadId ?? string.Empty, target.EventId, edu.Ts, position);
            if (!await store.UpsertAsync(receipt, target.StreamOrdering!.Value, ct))
            {
                return false;
            }
        }

        notifier.Notify(await audience.GetLocalJoinedAsync(edu.RoomId, ct), position);
        return true;
    }

    private async Task<StoredEvent> GetVisibleEventAsync(Requester requester, string roomId, string eventId, CancellationToken ct)
    {
        if (!MatrixId.IsValidEventId(eventId))
        {
            throw MatrixException.InvalidParam("Invalid event ID");
        }

        var room = await rooms.FindRoomAsync(roomId, ct) ?? throw MatrixException.NotFound("Unknown room");

        // 404 both for unknown events and events the requester may not see, so that existence does not leak.
        var stored = await reader.GetEventAsync(requester.UserId, room, eventId, ct);
        if (stored.StreamOrdering is null)
        {
            throw MatrixException.NotFound("Event not found");
        }

        return stored;
    }

    private async Task StoreReceiptAsync(string userId, string roomId, string receiptType, string threadId, StoredEvent target, CancellationToken ct)
    {
        bool storedNew;
        long position;
        Receipt receipt;
        using (var reservation = streams.Reserve())
        {
            position = reservation.First;
            receipt = new Receipt(roomId, receiptType, userId, threadId, target.EventId, time.GetUtcNow().ToUnixTimeMilliseconds(), position);
            storedNew = await store.UpsertAsync(receipt, target.StreamOrdering ?? 0, ct);
        }

        if (!storedNew)
        {
            return;
        }

        foreach (var listener in listeners)
        {
            await listener.OnReceiptAsync(receipt, target.StreamOrdering ?? 0, ct);
        }

        IReadOnlyCollection<string> wake = receiptType == ReceiptTypes.ReadPrivate ? [userId] : await audience.GetLocalJoinedAsync(roomId, ct);
        notifier.Notify(wake, position);
        await streams.WaitUntilReadableAsync(position, ct);
    }

    /// <summary>The fully-read marker only moves forward (as Synapse), by (depth, stream) order of the events.</summary>
    private async Task SetFullyReadAsync(string userId, string roomId, StoredEvent target, CancellationToken ct)
    {
        var existing = await markers.GetRoomAccountDataAsync(userId, roomId, ReceiptTypes.FullyRead, ct);
        if (existing is not null && ReadEventId(existing) is { } previousId)
        {
            var previous = (await reader.GetStoredAsync([previousId], ct)).FirstOrDefault();
            if (previous?.StreamOrdering is not null && previous.Event.RoomId == roomId
                && (previous.TopologicalOrdering, previous.StreamOrdering.Value).CompareTo((target.TopologicalOrdering, target.StreamOrdering!.Value)) >= 0)
            {
                return;
            }
        }

        var content = JsonSerializer.Serialize(new Dictionary<string, string> { ["event_id"] = target.EventId });
        long position;
        using (var reservation = streams.Reserve())
        {
            position = reservation.First;
            await markers.SetRoomAccountDataAsync(userId, roomId, ReceiptTypes.FullyRead, content, position, ct);
        }

        notifier.Notify([userId], position);
        await streams.WaitUntilReadableAsync(position, ct);
    }

    private static string? ReadEventId(string content)
    {
        try
        {
            using var doc = JsonDocument.Parse(content);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("event_id", out var id) && id.ValueKind == JsonValueKind.String
                ? id.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Whether an event belongs to a thread, in the loose sense Synapse checks: for <c>main</c>, the event is not
    /// in a thread; for a thread root, the event is the root, is in that thread, or relates (a few hops) to either.
    /// </summary>
    private async Task<bool> IsInThreadAsync(Pdu ev, string threadId, CancellationToken ct)
    {
        var current = ev;
        for (var hop = 0; hop <= MaxRelationHops; hop++)
        {
            if (threadId != ReceiptTypes.MainThread && current.EventId == threadId)
            {
                return true;
            }

            if (Relation(current) is not var (relType, parentId))
            {
                return threadId == ReceiptTypes.MainThread;
            }

            if (relType == "m.thread")
            {
                return parentId == threadId;
            }

            if (hop == MaxRelationHops || (await lookup.GetEventsAsync([parentId], ct)).GetValueOrDefault(parentId) is not { } parent)
            {
                return threadId == ReceiptTypes.MainThread;
            }

            current = parent;
        }

        return threadId == ReceiptTypes.MainThread;
    }

    private static (string RelType, string EventId)? Relation(Pdu ev) =>
        ev.Content.ValueKind == JsonValueKind.Object
        && ev.Content.TryGetProperty("m.relates_to", out var rel) && rel.ValueKind == JsonValueKind.Object
        && rel.TryGetProperty("rel_type", out var type) && type.ValueKind == JsonValueKind.String
        && rel.TryGetProperty("event_id", out var id) && id.ValueKind == JsonValueKind.String
            ? (type.GetString()!, id.GetString()!)
            : null;
}
