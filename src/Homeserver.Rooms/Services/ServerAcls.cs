using Homeserver.Core;

namespace Homeserver.Rooms.Services;

/// <summary>
/// Applies rooms' server ACLs to other servers (server-server API, "Server Access Control Lists (ACLs)"): the
/// room's current <c>m.room.server_acl</c> decides; a room we do not know, or one without an ACL, allows everyone.
/// </summary>
public sealed class ServerAcls(RoomService rooms)
{
    public async Task<bool> IsAllowedAsync(string roomId, string serverName, CancellationToken ct)
    {
        if (await rooms.FindRoomAsync(roomId, ct) is not { } room)
        {
            return true;
        }

        var acl = await rooms.GetCurrentStateEventAsync(room, new StateKey(ServerAcl.EventType, string.Empty), ct);
        return acl is null || ServerAcl.FromContent(acl.Content).Allows(serverName);
    }

    /// <summary>Throws 403 M_FORBIDDEN when the room's ACL denies <paramref name="serverName"/>.</summary>
    public async Task RequireAllowedAsync(string roomId, string serverName, CancellationToken ct)
    {
        if (!await IsAllowedAsync(roomId, serverName, ct))
        {
            throw MatrixException.Forbidden("Server is banned from room");
        }
    }
}
