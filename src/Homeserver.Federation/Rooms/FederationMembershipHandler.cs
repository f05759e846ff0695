using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Federation.Events;
using Homeserver.Rooms;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;
using Homeserver.Rooms.Writing;

namespace Homeserver.Federation.Rooms;

/// <summary>
/// The resident side of membership handshakes (server-server API, "Joining Rooms", "Leaving Rooms", "Inviting to a
/// room", "Knocking"): templates for another server's user, and accepting the events they send back.
/// </summary>
public sealed class FederationMembershipHandler(
    HomeserverConfig config,
    RoomService rooms,
    RoomWriter writer,
    EventFactory factory,
    PduVerifier verifier,
    FederationRoomReader reader,
    RestrictedJoins restrictedJoins)
{
    /// <summary>make_join / make_leave / make_knock: a template for <paramref name="userId"/> of <paramref name="origin"/>.</summary>
    public async Task<JsonObject> MakeAsync(string origin, string roomId, string userId, string membership, IReadOnlyCollection<string>? supportedVersions, CancellationToken ct)
    {
        if (MatrixId.ServerOf(userId) != origin)
        {
            throw MatrixException.Forbidden("The user is not on the requesting server");
        }

        var room = await reader.RequireRoomAsync(roomId, ct);
        var head = await rooms.GetHeadAsync(room, ct);
        if (head.ForwardExtremities.Count == 0)
        {
            throw MatrixException.NotFound("Unknown room");
        }

        // Joining or knocking needs a resident server to vouch for the room: once all our users have left, we are not
        // one (Synapse: "Not an active room on this server"). Leaving is still possible, to reject an invite.
        if (membership != Membership.Leave && !await rooms.HasLocalJoinedMemberAsync(head, ct))
        {
            throw MatrixException.NotFound("Not an active room on this server");
        }

        if (supportedVersions is not null && !supportedVersions.Contains(room.Version.Id))
        {
            throw new MatrixException(MatrixErrorCode.IncompatibleRoomVersion, 400, "Your server does not support this room's version",
                new Dictionary<string, object?> { ["room_version"] = room.Version.Id });
        }

        var content = new JsonObject { ["membership"] = membership };
        if (membership == Membership.Join && await restrictedJoins.ChooseAuthoriserAsync(room, head, userId, ct) is { } authoriser)
        {
            content["join_authorised_via_users_server"] = authoriser;
        }

        var template = await writer.BuildTemplateAsync(room, new EventDraft(EventTypes.Member, userId, content, userId), origin, ct);
        return new JsonObject { ["room_version"] = room.Version.Id, ["event"] = template };
    }

    /// <summary>send_join / send_leave / send_knock: accepts the completed event and stores it.</summary>
    public async Task<(Pdu Event, RoomRecord Room)> SendAsync(string origin, string roomId, string eventId, JsonElement body, string membership, CancellationToken ct)
    {
        var room = await reader.RequireRoomAsync(roomId, ct);

        // Another server's member may not be joined (or made to leave) by this one: a 403 before anything else, as
        // Synapse answers (a join replayed by a third server is correctly signed, just not the origin's to send).
        if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("sender", out var sender) && sender.ValueKind == JsonValueKind.String
            && MatrixId.ServerOf(sender.GetString()!) != origin)
        {
            throw MatrixException.Forbidden($"Not allowed to send a {membership} event for a user of another server");
        }

        var pdu = Verified(await verifier.VerifyAsync(body, room.Version, ct));
        if (pdu.EventId != eventId || pdu.RoomId != room.RoomId || pdu.Type != EventTypes.Member || pdu.Membership != membership
            || pdu.StateKey != pdu.Sender || MatrixId.ServerOf(pdu.Sender) != origin)
        {
            throw MatrixException.BadJson($"Not a {membership} event of a user of {origin} for this room");
        }

        // A restricted join that one of our users authorised carries our signature too.
        if (pdu.Content.TryGetProperty("join_authorised_via_users_server", out var via) && via.ValueKind == JsonValueKind.String
            && MatrixId.ServerOf(via.GetString()!) == config.ServerName)
        {
            pdu = factory.CoSign(pdu);
        }

        var outcome = await writer.IngestAsync(room, pdu, null, ct);
        if (!outcome.AlreadyKnown && !outcome.Accepted)
        {
            throw MatrixException.Forbidden($"The {membership} event was not accepted: {outcome.RejectionReason ?? "it is not allowed by the current state"}");
        }

        return (pdu, room);
    }

    /// <summary>invite (v2): another server invites one of our users; we sign the event and remember the invite.</summary>
    public async Task<Pdu> InviteAsync(string origin, string roomId, string eventId, JsonElement body, CancellationToken ct)
    {
        var versionId = body.TryGetProperty("room_version", out var rv) && rv.ValueKind == JsonValueKind.String ? rv.GetString() : "1";
        var version = RoomVersion.Find(versionId)
            ?? throw new MatrixException(MatrixErrorCode.IncompatibleRoomVersion, 400, $"Room version {versionId} is not supported",
                new Dictionary<string, object?> { ["room_version"] = versionId });
        if (!body.TryGetProperty("event", out var eventJson))
        {
            throw MatrixException.BadJson("Missing event");
        }

        var pdu = Verified(await verifier.VerifyAsync(eventJson, version, ct));
        if (pdu.EventId != eventId || pdu.RoomId != roomId || pdu.Type != EventTypes.Member || pdu.Membership != Membership.Invite
            || pdu.StateKey is null || MatrixId.ServerOf(pdu.StateKey) != config.ServerName || MatrixId.ServerOf(pdu.Sender) != origin)
        {
            throw MatrixException.BadJson("Not an invite of one of our users by a user of the requesting server");
        }

        var signed = factory.CoSign(pdu);

        // Keep the stripped state the inviting server sent, so the invitee's client can show the room.
        var withState = JsonNode.Parse(signed.Json.GetRawText())!.AsObject();
        var unsigned = withState["unsigned"] as JsonObject ?? new JsonObject();
        if (body.TryGetProperty("invite_room_state", out var stripped) && stripped.ValueKind == JsonValueKind.Array)
        {
            unsigned["invite_room_state"] = JsonNode.Parse(stripped.GetRawText());
        }

        withState["unsigned"] = unsigned;
        var stored = Pdu.Parse(JsonSerializer.SerializeToElement(withState), version, signed.EventId);
        var room = await rooms.GetOrCreateRemoteRoomAsync(roomId, version, ct);
        var head = await rooms.GetHeadAsync(room, ct);
        if (await rooms.IsResidentAsync(head, ct))
        {
            // One of our users is in the room: the inviting server sends the invite to us in a transaction like any
            // other event, where the auth rules judge it against the room's state; here we only countersign (Synapse
            // does not check an invite's auth rules on /invite either).
            return signed;
        }

        // We are not in the room (or all our users left it, and no transaction would bring the invite): keep it beside
        // the room's state so that the invitee sees it.
        await writer.PersistOutOfBandMembershipAsync(room, stored, ct);
        return signed;
    }

    /// <summary>The verified event; a missing or wrong signature is a 403 M_FORBIDDEN, any other fault 400 M_BAD_JSON (as Synapse).</summary>
    private static Pdu Verified(PduVerifier.Result verified) => verified switch
    {
        { Event: { } pdu } => pdu,
        { BadSignature: true } => throw MatrixException.Forbidden("Signature check failed: " + verified.Error),
        _ => throw MatrixException.BadJson("Invalid event: " + verified.Error),
    };
}
