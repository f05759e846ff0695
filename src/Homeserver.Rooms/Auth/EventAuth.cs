using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Rooms.Auth;

/// <summary>
/// The authorisation rules of room versions 1 to 12 (spec: "Authorisation rules" of each room version).
/// <para>
/// <see cref="Check"/> applies the rules that depend on room state against a given state (the event's auth events,
/// the state before the event, or the current state: server-server API "Checks performed on receipt of a PDU",
/// steps 4 to 6). <see cref="CheckAgainstAuthEvents"/> adds the checks on the event's own <c>auth_events</c> list
/// (rules 2.x before v12, 3.x in v12), which only make sense for step 4.
/// </para>
/// Rule identifiers in <see cref="AuthResult.Rule"/> are version independent (rule numbers shift between versions).
/// Nothing here throws on malformed content: a malformed event is a rejection.
/// </summary>
public static partial class EventAuth
{
    private static readonly StateKey CreateKey = new(EventTypes.Create, string.Empty);
    private static readonly StateKey PowerLevelsKey = new(EventTypes.PowerLevels, string.Empty);
    private static readonly StateKey JoinRulesKey = new(EventTypes.JoinRules, string.Empty);

    /// <summary>
    /// Authorises <paramref name="pdu"/> against <paramref name="authState"/>, which must contain at least the entries
    /// selected by <see cref="AuthEventsSelection"/> that exist, and the room's <c>m.room.create</c> event (also in v12,
    /// where it is not an auth event: state maps contain it anyway).
    /// </summary>
    /// <param name="verifier">Signature answers for restricted joins and third-party invites; defaults to
    /// <see cref="SignaturesCheckedUpstreamVerifier"/>.</param>
    public static AuthResult Check(Pdu pdu, IReadOnlyDictionary<StateKey, Pdu> authState, IAuthSignatureVerifier? verifier = null)
    {
        ArgumentNullException.ThrowIfNull(pdu);
        ArgumentNullException.ThrowIfNull(authState);
        verifier ??= SignaturesCheckedUpstreamVerifier.Instance;
        var version = pdu.RoomVersion;

        // Rule 1: m.room.create. Independent of state, but kept here so that a single call authorises any event.
        if (pdu.Type == EventTypes.Create && pdu.StateKey == string.Empty)
        {
            return CheckCreate(pdu);
        }

        if (!authState.TryGetValue(CreateKey, out var create))
        {
            // Rule 2.4 (v1-v11): "If there is no m.room.create event among the entries, reject."
            return AuthResult.Reject("room.no_create", "there is no m.room.create event in the auth state");
        }

        if (version.RoomIdIsCreateEventHash)
        {
            // v12 rule 2: the room ID must be the create event's ID with the '!' sigil.
            if (create.EventId.Length < 2 || pdu.RoomId != "!" + create.EventId[1..])
            {
                return AuthResult.Reject("room.create_mismatch", "room_id " + pdu.RoomId + " is not the ID of create event " + create.EventId);
            }
        }
        else if (create.RoomId != pdu.RoomId)
        {
            return AuthResult.Reject("room.create_mismatch", "the m.room.create event belongs to another room");
        }

        // Rule 3 (v1-v11) / 4 (v12): m.federate.
        if (Json.TryGetProperty(create.Content, "m.federate", out var federate) && federate.ValueKind == JsonValueKind.False
            && MatrixId.ServerOf(pdu.Sender) != MatrixId.ServerOf(create.Sender))
        {
            return AuthResult.Reject("room.not_federated", "the room does not federate and the sender is on another server");
        }

        // Rule 4 (v1-v5 only): m.room.aliases is authorised by the sender's domain alone.
        if (version.SpecialCaseAliasesAuth && pdu.Type == EventTypes.Aliases)
        {
            if (pdu.StateKey is null)
            {
                return AuthResult.Reject("aliases.no_state_key", "m.room.aliases has no state_key");
            }

            return MatrixId.ServerOf(pdu.Sender) == pdu.StateKey
                ? AuthResult.Allow
                : AuthResult.Reject("aliases.domain", "the sender's domain does not match the state_key of m.room.aliases");
        }

        authState.TryGetValue(PowerLevelsKey, out var plEvent);
        var powerLevels = PowerLevels.From(plEvent, create, version);

        if (pdu.Type == EventTypes.Member)
        {
            return CheckMember(pdu, authState, create, powerLevels, verifier);
        }

        // Rule 6 (numbering of v1): the sender must be joined.
        if (MembershipOf(authState, pdu.Sender) != Membership.Join)
        {
            return AuthResult.Reject("sender.not_joined", "sender is not joined to the room");
        }

        var senderLevel = powerLevels.GetUserLevel(pdu.Sender);

        if (pdu.Type == EventTypes.ThirdPartyInvite)
        {
            return senderLevel >= powerLevels.Invite
                ? AuthResult.Allow
                : AuthResult.Reject("third_party_invite.power", "sender's power level is below the invite level");
        }

        if (powerLevels.GetEventLevel(pdu.Type, pdu.IsState) > senderLevel)
        {
            return AuthResult.Reject("event.power", "sender's power level is below the required power level for " + pdu.Type);
        }

        if (pdu.StateKey is { Length: > 0 } sk && sk[0] == '@' && sk != pdu.Sender)
        {
            return AuthResult.Reject("state_key.user", "state_key starts with '@' and is not the sender");
        }

        // "If type is m.room.power_levels" (whatever the state_key; the previous one is the room's, under "").
        if (pdu.Type == EventTypes.PowerLevels)
        {
            return CheckPowerLevels(pdu, plEvent, powerLevels, senderLevel);
        }

        // Rule 11 of v1/v2 only: from v3 redactions are checked when applied, not here ("Handling redactions").
        if (pdu.Type == EventTypes.Redaction && version.UsesEventIdHashPairs)
        {
            return CheckRedactionV1(pdu, powerLevels, senderLevel);
        }

        return AuthResult.Allow;
    }

    /// <summary>Rule 1: <c>m.room.create</c>.</summary>
    internal static AuthResult CheckCreate(Pdu pdu)
    {
        var version = pdu.RoomVersion;
        if (pdu.PrevEventIds.Count > 0)
        {
            return AuthResult.Reject("create.prev_events", "m.room.create has prev_events");
        }

        // v12 rule 1.2 ("If the event has a room_id, reject") is enforced by Pdu.Parse as a format error.
        if (!version.RoomIdIsCreateEventHash && MatrixId.ServerOf(pdu.RoomId) != MatrixId.ServerOf(pdu.Sender))
        {
            return AuthResult.Reject("create.room_id_domain", "the domain of the room_id does not match the sender's");
        }

        if (Json.TryGetProperty(pdu.Content, "room_version", out var rv)
            && (rv.ValueKind != JsonValueKind.String || RoomVersion.Find(rv.GetString()) is null))
        {
            return AuthResult.Reject("create.room_version", "content.room_version is not a recognised room version");
        }

        if (!version.ImplicitRoomCreator && !Json.Has(pdu.Content, "creator"))
        {
            return AuthResult.Reject("create.creator", "content has no creator");
        }

        if (version.PrivilegedCreators && Json.TryGetProperty(pdu.Content, "additional_creators", out var extra))
        {
            if (extra.ValueKind != JsonValueKind.Array)
            {
                return AuthResult.Reject("create.additional_creators", "additional_creators is not an array");
            }

            foreach (var item in extra.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String || !MatrixId.IsValidUserId(item.GetString()))
                {
                    return AuthResult.Reject("create.additional_creators", "additional_creators contains an invalid user ID");
                }
            }
        }

        return AuthResult.Allow;
    }

    /// <summary>v1/v2 rule 11: the redact level, or the same event ID domain as the redacted event.</summary>
    private static AuthResult CheckRedactionV1(Pdu pdu, PowerLevels powerLevels, long senderLevel)
    {
        if (senderLevel >= powerLevels.Redact)
        {
            return AuthResult.Allow;
        }

        if (pdu.Redacts is { } redacts && MatrixId.ServerOf(redacts) is { } domain && domain == MatrixId.ServerOf(pdu.EventId))
        {
            return AuthResult.Allow;
        }

        return AuthResult.Reject("redaction.power", "sender's power level is below the redact level and the redacted event is from another domain");
    }

    /// <summary>
    /// "Handling redactions" (v3+): whether a redaction that passed auth should be applied to <paramref name="redacted"/>:
    /// the sender has the redact level, or the senders' domains match. For v1/v2 the auth rules already decided.
    /// </summary>
    public static bool ShouldApplyRedaction(Pdu redaction, Pdu redacted, PowerLevels powerLevels)
    {
        ArgumentNullException.ThrowIfNull(redaction);
        ArgumentNullException.ThrowIfNull(redacted);
        ArgumentNullException.ThrowIfNull(powerLevels);
        if (redaction.RoomVersion.UsesEventIdHashPairs)
        {
            return true;
        }

        return powerLevels.GetUserLevel(redaction.Sender) >= powerLevels.Redact
            || MatrixId.ServerOf(redaction.Sender) == MatrixId.ServerOf(redacted.Sender);
    }

    private static string? MembershipOf(IReadOnlyDictionary<StateKey, Pdu> state, string userId) =>
        state.TryGetValue(new StateKey(EventTypes.Member, userId), out var ev) ? ev.Membership : null;
}
