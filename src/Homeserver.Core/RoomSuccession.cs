namespace Homeserver.Core;

/// <summary>
/// Told when a local user joins a room that replaced another (an upgrade's new room, whose create event names the old
/// one as <c>predecessor</c>), including the upgrader's own join: the user's per-room state — tags, and the room's
/// place in <c>m.direct</c> — follows them to the new room, as Synapse carries it over.
/// </summary>
public interface IRoomSuccessionListener
{
    Task OnJoinedSuccessorAsync(string userId, string oldRoomId, string newRoomId, CancellationToken ct);
}
