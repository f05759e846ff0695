using System.Buffers;
using System.Text.Json;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Sync.Rooms;

/// <summary>
/// The stripped state of a room the user is invited to or knocked on (client-server API, "Stripped state"):
/// what the membership event carried (<c>invite_room_state</c> / <c>knock_room_state</c>, for rooms on other
/// servers), else a few state events of the room as it was at the membership event, and the event itself.
/// </summary>
public sealed class StrippedState(IRoomReadStore reads, EventLookup lookup)
{
    /// <summary>State event types copied into stripped state (Synapse's defaults).</summary>
    public static readonly IReadOnlyList<string> Types =
        ["m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar", "m.room.canonical_alias", "m.room.encryption", "m.room.topic"];

    public async Task<List<JsonElement>> BuildAsync(UserRoomMembership membership, CancellationToken ct)
    {
        var result = new List<JsonElement>();
        var own = (await reads.GetStoredEventsAsync([membership.EventId], ct)).FirstOrDefault();
        if (own is null)
        {
            return result;
        }

        var carriedName = own.Event.Membership == Membership.Knock ? "knock_room_state" : "invite_room_state";
        if (own.Event.Unsigned is { } unsigned && unsigned.TryGetProperty(carriedName, out var carried) && carried.ValueKind == JsonValueKind.Array)
        {
            result.AddRange(carried.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.Object).Select(e => e.Clone()));
        }
        else if (own.StateAfter is { } snapshot)
        {
            var state = await reads.GetStateAsync(snapshot, ct);
            var ids = Types.Select(t => state.GetValueOrDefault(new StateKey(t, string.Empty))).OfType<string>();
            foreach (var (_, pdu) in await lookup.GetEventsAsync(ids, ct))
            {
                result.Add(Strip(pdu));
            }
        }

        result.Add(Strip(own.Event));
        return result;
    }

    /// <summary>The stripped form of an event: content, sender, state_key and type only.</summary>
    public static JsonElement Strip(Pdu pdu)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WritePropertyName("content"u8);
            pdu.Content.WriteTo(w);
            w.WriteString("sender"u8, pdu.Sender);
            w.WriteString("state_key"u8, pdu.StateKey ?? string.Empty);
            w.WriteString("type"u8, pdu.Type);
            w.WriteEndObject();
        }

        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }
}
