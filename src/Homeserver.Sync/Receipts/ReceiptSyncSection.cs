using System.Text.Json;

namespace Homeserver.Sync.Receipts;

/// <summary>
/// Adds <c>m.receipt</c> to the <c>ephemeral</c> events of joined rooms: every current receipt on an initial
/// sync (as Synapse), the receipts written since the token otherwise. One query for all rooms.
/// </summary>
public sealed class ReceiptSyncSection(IReceiptStore store) : IRoomSyncSection
{
    public const string EventType = "m.receipt";

    public async Task<IReadOnlyDictionary<string, IRoomSyncContribution>> ComputeAsync(SyncContext context, IReadOnlyCollection<string> roomIds, CancellationToken ct)
    {
        var result = new Dictionary<string, IRoomSyncContribution>(StringComparer.Ordinal);
        if (!context.Filter.Ephemeral.MatchesType(EventType))
        {
            return result;
        }

        var rooms = roomIds.Where(context.Filter.Ephemeral.IncludesRoom).ToList();
        if (rooms.Count == 0)
        {
            return result;
        }

        var since = context.FullState ? 0 : context.Since?.Stream ?? 0;
        var receipts = await store.GetReceiptsAsync(rooms, since, context.UpTo.Stream, context.Requester.UserId, ct);
        foreach (var group in receipts.GroupBy(r => r.RoomId, StringComparer.Ordinal))
        {
            result[group.Key] = new Contribution(group.ToList());
        }

        return result;
    }

    /// <summary>
    /// Writes one <c>m.receipt</c> event: <c>{"content":{event_id:{receipt_type:{user_id:{"ts", "thread_id"?}}}}}</c>.
    /// </summary>
    public static void WriteEvent(Utf8JsonWriter w, IEnumerable<Receipt> receipts, string? roomId = null)
    {
        w.WriteStartObject();
        w.WriteString("type"u8, EventType);
        if (roomId is not null)
        {
            w.WriteString("room_id"u8, roomId);
        }

        w.WritePropertyName("content"u8);
        WriteContent(w, receipts);
        w.WriteEndObject();
    }

    public static void WriteContent(Utf8JsonWriter w, IEnumerable<Receipt> receipts)
    {
        w.WriteStartObject();
        foreach (var byEvent in receipts.GroupBy(r => r.EventId, StringComparer.Ordinal))
        {
            w.WritePropertyName(byEvent.Key);
            w.WriteStartObject();
            foreach (var byType in byEvent.GroupBy(r => r.ReceiptType, StringComparer.Ordinal))
            {
                w.WritePropertyName(byType.Key);
                w.WriteStartObject();

                // A user has at most one receipt per (type, thread); on one event, the later one wins.
                foreach (var receipt in byType.GroupBy(r => r.UserId, StringComparer.Ordinal).Select(g => g.MaxBy(r => r.StreamId)!))
                {
                    w.WritePropertyName(receipt.UserId);
                    receipt.WriteData(w);
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private sealed class Contribution(List<Receipt> receipts) : IRoomSyncContribution
    {
        public bool HasContent => true;

        public void WriteEphemeralEvents(Utf8JsonWriter writer) => WriteEvent(writer, receipts);

        public void WriteRoomProperties(Utf8JsonWriter writer)
        {
        }
    }
}
