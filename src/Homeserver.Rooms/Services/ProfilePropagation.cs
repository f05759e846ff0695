using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Rooms.Persistence;
using Microsoft.Extensions.Logging;

namespace Homeserver.Rooms.Services;

/// <summary>
/// Sends a new <c>m.room.member</c> join with the new display name and avatar into every room the user is joined to,
/// when their profile changes (Synapse's update_join_states). A room that refuses it (e.g. the power levels forbid
/// membership updates) is skipped and logged; the others still get theirs.
/// </summary>
public sealed partial class ProfilePropagation(RoomService rooms, IRoomReadStore reads, ILogger<ProfilePropagation> logger) : IProfileChangeListener
{
    public async Task OnProfileChangedAsync(string userId, string? displayName, string? avatarUrl, CancellationToken ct)
    {
        var requester = new Requester(userId, string.Empty);
        foreach (var membership in await reads.GetUserMembershipsAsync(userId, ct))
        {
            if (membership.Membership != Membership.Join || await rooms.FindRoomAsync(membership.RoomId, ct) is not { } room)
            {
                continue;
            }

            var content = new JsonObject { ["membership"] = Membership.Join };
            if (displayName is not null)
            {
                content["displayname"] = displayName;
            }

            if (avatarUrl is not null)
            {
                content["avatar_url"] = avatarUrl;
            }

            try
            {
                await rooms.SendProfileUpdateAsync(requester, room, content, ct);
            }
            catch (MatrixException e)
            {
                LogUpdateFailed(userId, room.RoomId, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not update the membership of {UserId} in {RoomId} after a profile change: {Reason}")]
    private partial void LogUpdateFailed(string userId, string roomId, string reason);
}
