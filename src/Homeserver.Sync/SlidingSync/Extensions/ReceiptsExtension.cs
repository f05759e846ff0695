using System.Collections.Immutable;
using Homeserver.Sync.Receipts;

namespace Homeserver.Sync.SlidingSync.Extensions;

/// <summary>
/// The <c>receipts</c> extension (MSC3960): <c>{"rooms": {room_id: m.receipt event}}</c>. A room new to the
/// connection (or sent again from scratch) gets the receipts on the events of its timeline plus the requester's own,
/// as Synapse does, rather than every receipt of a large room; a room already covered gets the receipts written
/// since it was last covered. Private receipts are only ever the requester's.
/// </summary>
public sealed class ReceiptsExtension(IReceiptStore store) : ISlidingSyncExtension
{
    public string Name => "receipts";

    public async Task<SlidingExtensionResult?> ComputeAsync(SlidingExtensionContext context, CancellationToken ct)
    {
        var sent = context.PreviousState as ImmutableDictionary<string, long> ?? ImmutableDictionary.Create<string, long>(StringComparer.Ordinal);
        var me = context.Requester.UserId;
        var upTo = context.UpTo.Stream;
        var initial = new List<string>();
        var byPosition = new Dictionary<long, List<string>>();
        foreach (var roomId in context.RoomIds)
        {
            var fresh = context.Rooms.TryGetValue(roomId, out var outcome) && (outcome.Initial || outcome.ExpandedTimeline);
            if (fresh || !sent.TryGetValue(roomId, out var position))
            {
                initial.Add(roomId);
            }
            else if (position < upTo)
            {
                (byPosition.TryGetValue(position, out var list) ? list : byPosition[position] = []).Add(roomId);
            }
        }

        var receipts = new List<Receipt>();
        if (initial.Count > 0)
        {
            var eventIds = initial.SelectMany(r => context.Rooms.TryGetValue(r, out var o) ? o.TimelineEventIds : []).ToList();
            receipts.AddRange(await store.GetReceiptsForEventsAsync(initial, eventIds, upTo, me, ct));
        }

        foreach (var (position, rooms) in byPosition)
        {
            receipts.AddRange(await store.GetReceiptsAsync(rooms, position, upTo, me, ct));
        }

        var newState = sent.SetItems(context.RoomIds.Select(r => KeyValuePair.Create(r, upTo)));
        var byRoom = receipts.GroupBy(r => r.RoomId, StringComparer.Ordinal).ToList();
        return new SlidingExtensionResult(byRoom.Count > 0, w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("rooms"u8);
            w.WriteStartObject();
            foreach (var group in byRoom)
            {
                w.WritePropertyName(group.Key);
                ReceiptSyncSection.WriteEvent(w, group);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }, newState);
    }
}
