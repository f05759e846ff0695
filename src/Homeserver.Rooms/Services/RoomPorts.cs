namespace Homeserver.Rooms.Services;

/// <summary>A user's profile as it goes into their membership events.</summary>
public sealed record MemberProfile(string? DisplayName, string? AvatarUrl);

/// <summary>Reads local users' profiles (implemented over the accounts store).</summary>
public interface IProfileLookup
{
    Task<MemberProfile?> GetLocalProfileAsync(string userId, CancellationToken ct);

    /// <summary>Whether the local user is a guest account (see <see cref="GuestAccess"/>).</summary>
    Task<bool> IsGuestAsync(string userId, CancellationToken ct);
}

/// <summary>Membership changes that need another server (implemented by the federation module).</summary>
public interface IRemoteMembership
{
    /// <summary>Joins a room we are not in through one of <paramref name="servers"/> (make_join / send_join).</summary>
    Task<(Persistence.RoomRecord Room, string EventId)> JoinAsync(string userId, string roomId, IReadOnlyList<string> servers, System.Text.Json.Nodes.JsonObject content, CancellationToken ct);

    /// <summary>Asks the invitee's server to sign an invite of one of its users (invite v2).</summary>
    Task<Pdu> ApproveInviteAsync(Persistence.RoomRecord room, Pdu invite, IReadOnlyList<System.Text.Json.JsonElement> strippedState, CancellationToken ct);

    /// <summary>
    /// Leaves (rejects an invite to, or retracts a knock on) a room we hold no state for, through <paramref name="servers"/>.
    /// <paramref name="current"/> is the invite or knock being answered: when no server takes the leave, it is made locally on top of it.
    /// </summary>
    Task<string> LeaveAsync(string userId, string roomId, Pdu? current, IReadOnlyList<string> servers, CancellationToken ct);
}

/// <summary>A room's history that other servers hold and we do not (implemented by the federation module).</summary>
public interface IRemoteHistory
{
    /// <summary>
    /// Asks the room's other servers for the events before <paramref name="extremities"/> (prev events our timeline
    /// lacks), at most <paramref name="limit"/>, and stores those that pass the checks as backfilled history; true when
    /// the room's timeline gained events.
    /// </summary>
    Task<bool> BackfillAsync(Persistence.RoomRecord room, IReadOnlyList<string> extremities, int limit, CancellationToken ct);
}
