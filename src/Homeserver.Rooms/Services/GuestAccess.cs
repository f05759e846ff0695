using System.Text.Json;
using System.Threading.Channels;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;
using Microsoft.Extensions.Logging;

namespace Homeserver.Rooms.Services;

/// <summary>
/// Guest access (client-server API, "Guest Access"): "Servers MUST only allow guest users to join rooms if the
/// m.room.guest_access state event is present on the room and has the guest_access value can_join. If the
/// m.room.guest_access event is changed to stop this from being the case, the server MUST set those users'
/// m.room.member state to leave." Guests are a local notion (the auth rules know nothing of them), so this server
/// enforces both for its own guests.
/// </summary>
public static class GuestAccess
{
    public const string EventType = "m.room.guest_access";

    public const string CanJoin = "can_join";

    /// <summary>Whether an <c>m.room.guest_access</c> event (null: none in the room) lets guests join.</summary>
    public static bool Allows(Pdu? guestAccess) => guestAccess is not null && IsCanJoin(guestAccess.Content);

    /// <summary>
    /// For a room this server holds no state for: whether the invite's stripped state (<c>unsigned.invite_room_state</c>)
    /// shows guest access. Without it nothing says guests may join, and they may not (as Synapse, which has no state
    /// to look at either).
    /// </summary>
    public static bool AllowedByInvite(Pdu? invite)
    {
        if (invite is null || invite.Membership != Membership.Invite
            || !invite.Json.TryGetProperty("unsigned"u8, out var unsigned) || unsigned.ValueKind != JsonValueKind.Object
            || !unsigned.TryGetProperty("invite_room_state"u8, out var stripped) || stripped.ValueKind != JsonValueKind.Array)
        {
            return false;
        }

        foreach (var ev in stripped.EnumerateArray())
        {
            if (ev.ValueKind == JsonValueKind.Object
                && ev.TryGetProperty("type"u8, out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == EventType
                && ev.TryGetProperty("state_key"u8, out var key) && key.ValueKind == JsonValueKind.String && key.GetString()!.Length == 0
                && ev.TryGetProperty("content"u8, out var content))
            {
                return IsCanJoin(content);
            }
        }

        return false;
    }

    private static bool IsCanJoin(JsonElement content) =>
        content.ValueKind == JsonValueKind.Object && content.TryGetProperty("guest_access"u8, out var value)
        && value.ValueKind == JsonValueKind.String && value.GetString() == CanJoin;
}

/// <summary>
/// The rooms whose <c>m.room.guest_access</c> just changed, as the room writer persists them (local or remote events),
/// queued for <see cref="GuestAccessEnforcer"/>. Only queues: a listener runs on the room's writer, which must not wait.
/// </summary>
public sealed class GuestAccessChanges : IRoomEventListener
{
    private readonly Channel<RoomRecord> _rooms = Channel.CreateUnbounded<RoomRecord>(new UnboundedChannelOptions { SingleReader = true });

    public ChannelReader<RoomRecord> Rooms => _rooms.Reader;

    public void OnPersisted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head)
    {
        foreach (var e in events)
        {
            if (e.Event.Type == GuestAccess.EventType && e.Event.StateKey == string.Empty)
            {
                _rooms.Writer.TryWrite(room);
                return;
            }
        }
    }
}

/// <summary>
/// Makes this server's guests leave a room once its guest access no longer allows them (see <see cref="GuestAccess"/>).
/// Each guest leaves by their own membership event, as Synapse does: no power level is needed for it, and the
/// decision stays with the guests' server.
/// </summary>
public sealed partial class GuestAccessEnforcer(
    GuestAccessChanges changes, RoomService rooms, RoomWriter writer, IProfileLookup accounts, HomeserverConfig config, ILogger<GuestAccessEnforcer> logger)
{
    /// <summary>Works through the queued rooms until <paramref name="ct"/> is cancelled (a hosted service runs it).</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        await foreach (var room in changes.Rooms.ReadAllAsync(ct))
        {
            try
            {
                await EnforceAsync(room, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                LogEnforceFailed(e, room.RoomId);
            }
        }
    }

    /// <summary>Makes the room's joined local guests leave unless its current guest access is <c>can_join</c>; returns how many left.</summary>
    public async Task<int> EnforceAsync(RoomRecord room, CancellationToken ct)
    {
        if (GuestAccess.Allows(await rooms.GetCurrentStateEventAsync(room, new StateKey(GuestAccess.EventType, string.Empty), ct)))
        {
            return 0;
        }

        var head = await rooms.GetHeadAsync(room, ct);
        var memberIds = head.State
            .Where(kv => kv.Key.Type == EventTypes.Member && MatrixId.ServerOf(kv.Key.Key) == config.ServerName)
            .Select(kv => kv.Value)
            .ToList();
        var left = 0;
        foreach (var member in (await writer.GetEventsAsync(memberIds, ct)).Values)
        {
            if (member.Membership != Membership.Join || member.StateKey is not { } userId || !await accounts.IsGuestAsync(userId, ct))
            {
                continue;
            }

            await rooms.SetMembershipAsync(new Requester(userId, string.Empty, IsGuest: true), room, userId, Membership.Leave, null, null, ct);
            LogGuestLeft(userId, room.RoomId);
            left++;
        }

        return left;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Guest {UserId} left {RoomId}: the room no longer allows guests")]
    private partial void LogGuestLeft(string userId, string roomId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not make the guests leave {RoomId} after its guest access changed")]
    private partial void LogEnforceFailed(Exception e, string roomId);
}
