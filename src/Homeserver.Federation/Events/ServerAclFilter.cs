using System.Text.Json;
using Homeserver.Crypto;
using Homeserver.Rooms;
using Homeserver.Rooms.Services;

namespace Homeserver.Federation.Events;

/// <summary>
/// Server ACLs for the PDUs of a transaction (server-server API, "Server Access Control Lists (ACLs)"): a PDU for a
/// room whose ACL denies the sending server is ignored, with an error for its event ID in the <c>/send</c> answer.
/// </summary>
public sealed class ServerAclFilter(RoomService rooms, ServerAcls acls)
{
    /// <summary>The PDU's event ID (when it can be told) and the error to report, or null when the ACL lets it through.</summary>
    public async Task<(string? EventId, string? Error)?> DeniedPduAsync(string origin, JsonElement pdu, CancellationToken ct)
    {
        if (pdu.ValueKind != JsonValueKind.Object || !pdu.TryGetProperty("room_id", out var r) || r.ValueKind != JsonValueKind.String
            || await acls.IsAllowedAsync(r.GetString()!, origin, ct))
        {
            return null;
        }

        string? eventId = null;
        if (await rooms.FindRoomAsync(r.GetString()!, ct) is { } room)
        {
            try
            {
                eventId = EventHashing.GetEventId(pdu, room.Version);
            }
            catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException or CanonicalJsonException or InvalidOperationException)
            {
                // Without an ID there is nothing to report it under; it is ignored all the same.
            }
        }

        return (eventId, "Server is banned from room");
    }
}
