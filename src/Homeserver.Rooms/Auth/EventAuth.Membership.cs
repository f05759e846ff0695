using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Rooms.Auth;

public static partial class EventAuth
{
    /// <summary>Rule 5 (v1-v5) / 4 (v6-v11) / 5 (v12): <c>m.room.member</c>.</summary>
    private static AuthResult CheckMember(
        Pdu pdu, IReadOnlyDictionary<StateKey, Pdu> state, Pdu create, PowerLevels powerLevels, IAuthSignatureVerifier verifier)
    {
        var version = pdu.RoomVersion;
        if (pdu.StateKey is not { } target)
        {
            return AuthResult.Reject("member.no_state_key", "m.room.member has no state_key");
        }

        if (pdu.Membership is not { } membership)
        {
            return AuthResult.Reject("member.no_membership", "m.room.member has no membership in content");
        }

        // v8+: "If content has a join_authorised_via_users_server key: if the event is not validly signed by the
        // homeserver of the user ID denoted by the key, reject." Applies whatever the membership.
        if (version.RestrictedJoins && Json.TryGetProperty(pdu.Content, "join_authorised_via_users_server", out var via))
        {
            var authoriser = via.ValueKind == JsonValueKind.String ? via.GetString() : null;
            if (authoriser is null || MatrixId.ServerOf(authoriser) is not { } server || !verifier.IsSignedByServer(pdu, server))
            {
                return AuthResult.Reject("member.authoriser_signature", "the event is not signed by the server of join_authorised_via_users_server");
            }
        }

        var senderMembership = MembershipOf(state, pdu.Sender);
        var targetMembership = MembershipOf(state, target);

        switch (membership)
        {
            case Membership.Join:
                return CheckJoin(pdu, state, create, powerLevels, senderMembership);
            case Membership.Invite:
                return CheckInvite(pdu, state, powerLevels, verifier, senderMembership, targetMembership);
            case Membership.Leave:
                return CheckLeave(pdu, powerLevels, senderMembership, targetMembership);
            case Membership.Ban:
                if (senderMembership != Membership.Join)
                {
                    return AuthResult.Reject("member.ban.sender_not_joined", "sender is not joined to the room");
                }

                var banner = powerLevels.GetUserLevel(pdu.Sender);
                if (banner < powerLevels.Ban)
                {
                    return AuthResult.Reject("member.ban.power", "sender's power level is below the ban level");
                }

                return powerLevels.GetUserLevel(target) < banner
                    ? AuthResult.Allow
                    : AuthResult.Reject("member.ban.target_power", "target's power level is not below the sender's");
            case Membership.Knock when version.Knocking:
                return CheckKnock(pdu, state, senderMembership);
            default:
                return AuthResult.Reject("member.unknown", "unknown membership '" + membership + "'");
        }
    }

    private static AuthResult CheckJoin(Pdu pdu, IReadOnlyDictionary<StateKey, Pdu> state, Pdu create, PowerLevels powerLevels, string? senderMembership)
    {
        var version = pdu.RoomVersion;

        // "If the only previous event is an m.room.create and the state_key is the creator, allow." (v11+: the sender
        // of the create event; in v12 only that sender, not additional creators).
        if (pdu.PrevEventIds.Count == 1 && pdu.PrevEventIds[0] == create.EventId && powerLevels.Creators.Primary == pdu.StateKey)
        {
            return AuthResult.Allow;
        }

        if (pdu.Sender != pdu.StateKey)
        {
            return AuthResult.Reject("member.join.not_self", "sender does not match state_key of a join");
        }

        if (senderMembership == Membership.Ban)
        {
            return AuthResult.Reject("member.join.banned", "sender is banned from the room");
        }

        state.TryGetValue(JoinRulesKey, out var jrEvent);
        var rule = JoinRules.From(jrEvent).Rule;

        if (rule == JoinRule.Invite || (version.Knocking && rule == JoinRule.Knock))
        {
            return senderMembership is Membership.Invite or Membership.Join
                ? AuthResult.Allow
                : AuthResult.Reject("member.join.not_invited", "the join rule is " + rule + " and the sender is not invited");
        }

        if ((version.RestrictedJoins && rule == JoinRule.Restricted) || (version.KnockRestricted && rule == JoinRule.KnockRestricted))
        {
            if (senderMembership is Membership.Invite or Membership.Join)
            {
                return AuthResult.Allow;
            }

            var authoriser = Json.GetString(pdu.Content, "join_authorised_via_users_server");
            if (authoriser is null)
            {
                return AuthResult.Reject("member.join.no_authoriser", "restricted join without join_authorised_via_users_server");
            }

            if (MembershipOf(state, authoriser) != Membership.Join)
            {
                return AuthResult.Reject("member.join.authoriser_not_joined", "join_authorised_via_users_server is not joined to the room");
            }

            return powerLevels.GetUserLevel(authoriser) >= powerLevels.Invite
                ? AuthResult.Allow
                : AuthResult.Reject("member.join.authoriser_power", "join_authorised_via_users_server cannot invite users");
        }

        return rule == JoinRule.Public
            ? AuthResult.Allow
            : AuthResult.Reject("member.join.rule", "the join rule '" + rule + "' does not allow joining");
    }

    private static AuthResult CheckInvite(
        Pdu pdu, IReadOnlyDictionary<StateKey, Pdu> state, PowerLevels powerLevels, IAuthSignatureVerifier verifier,
        string? senderMembership, string? targetMembership)
    {
        if (Json.TryGetProperty(pdu.Content, "third_party_invite", out var tpi))
        {
            return CheckThirdPartyInvite(pdu, state, verifier, tpi, targetMembership);
        }

        if (senderMembership != Membership.Join)
        {
            return AuthResult.Reject("member.invite.sender_not_joined", "sender is not joined to the room");
        }

        if (targetMembership is Membership.Join or Membership.Ban)
        {
            return AuthResult.Reject("member.invite.target_state", "target is already " + (targetMembership == Membership.Join ? "joined" : "banned"));
        }

        return powerLevels.GetUserLevel(pdu.Sender) >= powerLevels.Invite
            ? AuthResult.Allow
            : AuthResult.Reject("member.invite.power", "sender's power level is below the invite level");
    }

    private static AuthResult CheckThirdPartyInvite(
        Pdu pdu, IReadOnlyDictionary<StateKey, Pdu> state, IAuthSignatureVerifier verifier, JsonElement tpi, string? targetMembership)
    {
        if (targetMembership == Membership.Ban)
        {
            return AuthResult.Reject("member.invite.3pid_target_banned", "target is banned");
        }

        if (!Json.TryGetProperty(tpi, "signed", out var signed) || signed.ValueKind != JsonValueKind.Object)
        {
            return AuthResult.Reject("member.invite.3pid_no_signed", "third_party_invite has no signed object");
        }

        var mxid = Json.GetString(signed, "mxid");
        var token = Json.GetString(signed, "token");
        if (mxid is null || token is null)
        {
            return AuthResult.Reject("member.invite.3pid_fields", "signed has no mxid or token");
        }

        if (mxid != pdu.StateKey)
        {
            return AuthResult.Reject("member.invite.3pid_mxid", "signed.mxid does not match state_key");
        }

        if (!state.TryGetValue(new StateKey(EventTypes.ThirdPartyInvite, token), out var invite))
        {
            return AuthResult.Reject("member.invite.3pid_no_event", "no m.room.third_party_invite with the token in the room state");
        }

        if (invite.Sender != pdu.Sender)
        {
            return AuthResult.Reject("member.invite.3pid_sender", "sender does not match the sender of the m.room.third_party_invite");
        }

        var keys = new List<string>();
        if (Json.GetString(invite.Content, "public_key") is { } single)
        {
            keys.Add(single);
        }

        if (Json.TryGetProperty(invite.Content, "public_keys", out var many) && many.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in many.EnumerateArray())
            {
                if (Json.GetString(item, "public_key") is { } k)
                {
                    keys.Add(k);
                }
            }
        }

        return keys.Count > 0 && verifier.VerifyThirdPartyInviteSigned(signed, keys)
            ? AuthResult.Allow
            : AuthResult.Reject("member.invite.3pid_signature", "no signature in signed matches a public key of the m.room.third_party_invite");
    }

    private static AuthResult CheckLeave(Pdu pdu, PowerLevels powerLevels, string? senderMembership, string? targetMembership)
    {
        if (pdu.Sender == pdu.StateKey)
        {
            // v7 added knock to the memberships one may leave from.
            var canLeave = senderMembership is Membership.Invite or Membership.Join
                || (pdu.RoomVersion.Knocking && senderMembership == Membership.Knock);
            return canLeave
                ? AuthResult.Allow
                : AuthResult.Reject("member.leave.self_state", "sender cannot leave from membership '" + (senderMembership ?? "none") + "'");
        }

        if (senderMembership != Membership.Join)
        {
            return AuthResult.Reject("member.leave.sender_not_joined", "sender is not joined to the room");
        }

        var senderLevel = powerLevels.GetUserLevel(pdu.Sender);
        if (targetMembership == Membership.Ban && senderLevel < powerLevels.Ban)
        {
            return AuthResult.Reject("member.leave.unban_power", "target is banned and sender's power level is below the ban level");
        }

        if (senderLevel >= powerLevels.Kick && powerLevels.GetUserLevel(pdu.StateKey!) < senderLevel)
        {
            return AuthResult.Allow;
        }

        return AuthResult.Reject("member.leave.kick_power", "sender cannot kick the target (kick level or target's power level)");
    }

    private static AuthResult CheckKnock(Pdu pdu, IReadOnlyDictionary<StateKey, Pdu> state, string? senderMembership)
    {
        state.TryGetValue(JoinRulesKey, out var jrEvent);
        var rule = JoinRules.From(jrEvent).Rule;
        if (rule != JoinRule.Knock && !(pdu.RoomVersion.KnockRestricted && rule == JoinRule.KnockRestricted))
        {
            return AuthResult.Reject("member.knock.rule", "the join rule '" + rule + "' does not allow knocking");
        }

        if (pdu.Sender != pdu.StateKey)
        {
            return AuthResult.Reject("member.knock.not_self", "sender does not match state_key of a knock");
        }

        return senderMembership is Membership.Ban or Membership.Invite or Membership.Join
            ? AuthResult.Reject("member.knock.state", "sender is already " + senderMembership)
            : AuthResult.Allow;
    }
}
