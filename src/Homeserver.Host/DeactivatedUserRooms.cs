using Homeserver.Core;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;
using Homeserver.Users;

namespace Homeserver.Host;

/// <summary>
/// A deactivated account leaves every room it is joined to, and rejects its pending invites and knocks, through the
/// room service: the leave events are ordinary membership events, so other servers in those rooms receive them (and
/// a remote invite is rejected through its server). As Synapse, one room that cannot be left (e.g. its server is
/// unreachable for a remote invite) does not stop the others.
/// </summary>
internal sealed partial class DeactivatedUserRooms(IRoomReadStore reads, RoomService rooms, ILogger<DeactivatedUserRooms> logger) : IAccountDeactivationListener
{
    public async Task OnAccountDeactivatedAsync(string userId, bool erase, CancellationToken ct)
    {
        // The account is already deactivated: the parting must finish even if the request that asked for it goes away.
        _ = ct;
        var requester = new Requester(userId, string.Empty);
        foreach (var membership in await reads.GetUserMembershipsAsync(userId, CancellationToken.None))
        {
            if (membership.Membership is not (Membership.Join or Membership.Invite or Membership.Knock))
            {
                continue;
            }

            try
            {
                var room = await rooms.FindRoomAsync(membership.RoomId, CancellationToken.None);
                if (room is not null)
                {
                    await rooms.SetMembershipAsync(requester, room, userId, Membership.Leave, null, null, CancellationToken.None);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogLeaveFailed(e, userId, membership.RoomId);
            }
        }

        LogParted(userId);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Deactivated user {UserId} could not leave {RoomId}")]
    private partial void LogLeaveFailed(Exception e, string userId, string roomId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deactivated user {UserId} left their rooms")]
    private partial void LogParted(string userId);
}
