using Homeserver.Core;

namespace Homeserver.Users;

/// <summary>Carries a user's tags and <c>m.direct</c> entry over to a room's successor when they join it.</summary>
public sealed class RoomSuccessionUserState(AccountDataService accountData) : IRoomSuccessionListener
{
    public Task OnJoinedSuccessorAsync(string userId, string oldRoomId, string newRoomId, CancellationToken ct) =>
        accountData.CopyRoomStateAsync(userId, oldRoomId, newRoomId, ct);
}
