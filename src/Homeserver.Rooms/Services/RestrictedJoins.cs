using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;

namespace Homeserver.Rooms.Services;

/// <summary>
/// Restricted joins (client-server API, "Restricted rooms"; server-server API, "Restricted rooms"): a user who is
/// neither joined nor invited may join a <c>restricted</c> (or <c>knock_restricted</c>) room when they are joined to
/// one of the rooms its join rule allows; one of our joined users who may invite then vouches for the join in
/// <c>join_authorised_via_users_server</c>. Used for our own users' joins and for make_join from other servers.
/// </summary>
public sealed class RestrictedJoins(HomeserverConfig config, IRoomStore store, RoomWriter writer)
{
    /// <summary>
    /// The local user to name in <c>join_authorised_via_users_server</c>, or null when the join needs none (the room is
    /// not restricted, or the user is already joined or invited). Throws 403 M_FORBIDDEN when the user is in none of the
    /// allowed rooms, 400 M_UNABLE_TO_AUTHORISE_JOIN when we are in none of them, 400 M_UNABLE_TO_GRANT_JOIN when none of
    /// our users may invite.
    /// </summary>
    public async Task<string?> ChooseAuthoriserAsync(RoomRecord room, RoomHead head, string userId, CancellationToken ct)
    {
        if (!room.Version.RestrictedJoins)
        {
            return null;
        }

        // Most joins are of rooms that are not restricted: read only the join rules before anything else.
        var rulesId = head.State.GetValueOrDefault(new StateKey(EventTypes.JoinRules, string.Empty));
        var rules = JoinRules.From(rulesId is null ? null : (await writer.GetEventsAsync([rulesId], ct)).GetValueOrDefault(rulesId));
        if (rules.Rule is not (JoinRule.Restricted or JoinRule.KnockRestricted)
            || (rules.Rule == JoinRule.KnockRestricted && !room.Version.KnockRestricted))
        {
            return null;
        }

        var state = await LoadStateAsync(head, ct);
        if (RoomState.GetMembership(state, userId) is Membership.Join or Membership.Invite)
        {
            return null;
        }

        var knownAllowedRoom = false;
        var allowed = false;
        foreach (var allow in rules.Allow.Where(a => a.Type == "m.room_membership" && a.RoomId is not null))
        {
            if (await store.GetRoomAsync(allow.RoomId!, ct) is not { } allowedRoom)
            {
                continue;
            }

            var allowedHead = await writer.GetHeadAsync(allowedRoom, ct);
            if (allowedHead.ForwardExtremities.Count == 0)
            {
                continue;
            }

            knownAllowedRoom = true;
            if (allowedHead.State.TryGetValue(new StateKey(EventTypes.Member, userId), out var memberId)
                && (await writer.GetEventsAsync([memberId], ct)).GetValueOrDefault(memberId)?.Membership == Membership.Join)
            {
                allowed = true;
                break;
            }
        }

        if (!knownAllowedRoom)
        {
            throw new MatrixException(MatrixErrorCode.UnableToAuthoriseJoin, 400, "This server is in none of the rooms that grant access to this room");
        }

        if (!allowed)
        {
            throw MatrixException.Forbidden("You do not belong to any of the required rooms to join this room");
        }

        var powerLevels = RoomState.GetPowerLevels(state, room.Version);
        return state.Values
            .Where(e => e.Type == EventTypes.Member && e.Membership == Membership.Join && e.StateKey is { } s && MatrixId.ServerOf(s) == config.ServerName
                && powerLevels.GetUserLevel(s) >= powerLevels.Invite)
            .Select(e => e.StateKey!)
            .Order(StringComparer.Ordinal)
            .FirstOrDefault()
            ?? throw new MatrixException(MatrixErrorCode.UnableToGrantJoin, 400, "None of this server's users in the room may invite");
    }

    /// <summary>The state events the decision reads: join rules, create, power levels and our users' memberships.</summary>
    private async Task<Dictionary<StateKey, Pdu>> LoadStateAsync(RoomHead head, CancellationToken ct)
    {
        var keys = head.State.Where(kv => kv.Key.Key.Length == 0 && kv.Key.Type is EventTypes.JoinRules or EventTypes.Create or EventTypes.PowerLevels
            || (kv.Key.Type == EventTypes.Member && MatrixId.ServerOf(kv.Key.Key) == config.ServerName)).ToList();
        var events = await writer.GetEventsAsync(keys.Select(k => k.Value).ToList(), ct);
        return keys.Where(k => events.ContainsKey(k.Value)).ToDictionary(k => k.Key, k => events[k.Value]);
    }
}
