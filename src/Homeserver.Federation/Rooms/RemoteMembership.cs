
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Federation.Client;
using Homeserver.Federation.Events;
using Homeserver.Rooms;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;
using Homeserver.Rooms.Writing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation.Rooms;

/// <summary>
/// Our side of membership handshakes with other servers: joining a room through a resident server
/// (make_join / send_join v2, or v1 when the server does not know v2), asking a server to sign an invite of its user
/// (invite v2, or v1 for rooms of versions 1 and 2 when the server does not know v2), and leaving a room we hold no
/// state for (make_leave / send_leave v2; when no server can be reached, the invite is rejected locally, as Synapse).
/// </summary>
public sealed partial class RemoteMembership(
    IServiceProvider services,
    FederationClient client,
    EventFactory factory,
    PduVerifier verifier,
    Keys.KeyRing keys,
    RoomWriter writer,
    TimeProvider time,
    ILogger<RemoteMembership> logger) : IRemoteMembership
{
    private static readonly string SupportedVersionsQuery = string.Join("&", RoomVersion.All.Select(v => "ver=" + v.Id));

    // RoomService depends on this class; resolve it lazily to avoid a constructor cycle.
    private RoomService Rooms => services.GetRequiredService<RoomService>();

    public async Task<(RoomRecord Room, string EventId)> JoinAsync(string userId, string roomId, IReadOnlyList<string> servers, JsonObject content, CancellationToken ct)
    {
        Exception? last = null;
        foreach (var server in servers)
        {
            try
            {
                return await JoinThroughAsync(server, userId, roomId, content, ct);
            }
            catch (Exception e) when (e is InvalidPduException or Homeserver.Crypto.CanonicalJsonException or FormatException)
            {
                // The resident server sent a template we cannot use: try the next one.
                LogJoinAttemptFailed(roomId, server, e.Message);
                last = new FederationException("invalid template: " + e.Message, 502, null, e);
            }
            catch (FederationException e)
            {
                LogJoinAttemptFailed(roomId, server, e.Message);
                last = e;
                if (!TryAnotherServer(e))
                {
                    // The resident server refused the join itself (not allowed, room version not supported by us, ...):
                    // the client gets its answer, errcode and extra fields included, as Synapse passes it through.
                    throw e.ToMatrixException();
                }
            }
        }

        throw last is FederationException { StatusCode: 404 } || last is null
            ? MatrixException.NotFound("No known servers could join us to this room")
            : new MatrixException(MatrixErrorCode.Unknown, 502, "Could not join through any server: " + last.Message);
    }

    /// <summary>
    /// Whether a failed join through one server is worth trying through the next (Synapse's failover rules): the
    /// server is down or erring, does not know the room or the endpoint, or cannot authorise a restricted join.
    /// </summary>
    private static bool TryAnotherServer(FederationException e) =>
        e.StatusCode is null or 404 or 429 or >= 500 || e.IsUnknownEndpoint
        || (e.StatusCode == 400 && e.ErrCode is MatrixErrorCode.UnableToAuthoriseJoin or MatrixErrorCode.UnableToGrantJoin);

    private async Task<(RoomRecord Room, string EventId)> JoinThroughAsync(string server, string userId, string roomId, JsonObject content, CancellationToken ct)
    {
        var path = $"/_matrix/federation/v1/make_join/{Uri.EscapeDataString(roomId)}/{Uri.EscapeDataString(userId)}?{SupportedVersionsQuery}";
        var template = await client.GetAsync(server, path, ct);
        var version = RoomVersion.Find(template.TryGetProperty("room_version", out var rv) && rv.ValueKind == JsonValueKind.String ? rv.GetString() : "1")
            ?? throw new FederationException("the room's version is not supported", 400, MatrixErrorCode.IncompatibleRoomVersion);
        var (joinJson, joinId) = CompleteUnparsed(template, version, content);
        var answer = await SendJoinAsync(server, roomId, joinJson, joinId, ct);
        RequireCreateEventOfVersion(answer, version);
        var joinEvent = Pdu.Parse(joinJson, version, joinId);

        var room = await Rooms.GetOrCreateRemoteRoomAsync(roomId, version, ct);
        var handler = services.GetRequiredService<FederationEventHandler>();
        var state = await handler.VerifyAllAsync(room, answer, "state", ct);
        var authChain = await handler.VerifyAllAsync(room, answer, "auth_chain", ct);

        // A restricted join comes back signed by the authorising server as well.
        if (answer.TryGetProperty("event", out var signedJoin) && (await verifier.VerifyAsync(signedJoin, version, ct)).Event is { } returned
            && returned.EventId == joinEvent.EventId)
        {
            joinEvent = returned;
        }

        var outcome = await writer.CompleteRemoteJoinAsync(room, joinEvent, state, authChain, ct);
        LogJoined(userId, roomId, server, state.Count);
        return (room, outcome.EventId);
    }

    /// <summary>send_join v2, or v1 (whose answer is wrapped in <c>[200, answer]</c>) when the server does not know v2.</summary>
    private async Task<JsonElement> SendJoinAsync(string server, string roomId, JsonElement joinEvent, string eventId, CancellationToken ct)
    {
        var path = $"/send_join/{Uri.EscapeDataString(roomId)}/{Uri.EscapeDataString(eventId)}";
        try
        {
            return await client.PutAsync(server, "/_matrix/federation/v2" + path, joinEvent, ct, TimeSpan.FromMinutes(5));
        }
        catch (FederationException e) when (e.IsUnknownEndpoint)
        {
            var v1 = await client.PutAsync(server, "/_matrix/federation/v1" + path, joinEvent, ct, TimeSpan.FromMinutes(5));
            return UnwrapV1(v1, "send_join");
        }
    }

    /// <summary>
    /// The room's state must hold its create event, of the version the make_join answer named: else the resident server
    /// (or the one that made the template) is lying, and the join would fail the auth rules anyway (as Synapse checks).
    /// </summary>
    private static void RequireCreateEventOfVersion(JsonElement answer, RoomVersion version)
    {
        var create = answer.TryGetProperty("state", out var state) && state.ValueKind == JsonValueKind.Array
            ? state.EnumerateArray().FirstOrDefault(e => e.ValueKind == JsonValueKind.Object
                && e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == EventTypes.Create
                && e.TryGetProperty("state_key", out var k) && k.ValueKind == JsonValueKind.String && k.GetString()!.Length == 0)
            : default;
        if (create.ValueKind != JsonValueKind.Object)
        {
            throw new FederationException("the send_join answer's state has no m.room.create event", 502);
        }

        var createVersion = create.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Object
            && content.TryGetProperty("room_version", out var rv) ? (rv.ValueKind == JsonValueKind.String ? rv.GetString() : rv.ToString()) : "1";
        if (createVersion != version.Id)
        {
            throw new FederationException($"the room's m.room.create event has room version {createVersion}, not {version.Id} as make_join said", 502);
        }
    }

    /// <summary>The v1 membership endpoints answer <c>[200, answer]</c> (an old Synapse bug the spec kept).</summary>
    private static JsonElement UnwrapV1(JsonElement answer, string endpoint) =>
        answer.ValueKind == JsonValueKind.Array && answer.GetArrayLength() == 2 && answer[1].ValueKind == JsonValueKind.Object
            ? answer[1]
            : throw new FederationException($"the v1 {endpoint} answer is not [200, {{...}}]", 502);

    public async Task<Pdu> ApproveInviteAsync(RoomRecord room, Pdu invite, IReadOnlyList<JsonElement> strippedState, CancellationToken ct)
    {
        var destination = MatrixId.ServerOf(invite.StateKey!) ?? throw MatrixException.InvalidParam("Invalid user ID");
        // The invitee's server adds its signature to ours (which the writer left for now: EventFactory.BuildLocal).
        var ours = factory.ForFederation(invite);
        var body = new JsonObject
        {
            ["room_version"] = room.Version.Id,
            ["event"] = JsonNode.Parse(ours.GetRawText()),
            ["invite_room_state"] = new JsonArray([.. strippedState.Select(s => JsonNode.Parse(s.GetRawText()))]),
        };
        JsonElement answer;
        var path = $"/invite/{Uri.EscapeDataString(room.RoomId)}/{Uri.EscapeDataString(invite.EventId)}";
        try
        {
            try
            {
                answer = await client.PutAsync(destination, "/_matrix/federation/v2" + path, JsonSerializer.SerializeToElement(body), ct);
            }
            catch (FederationException e) when (e.IsUnknownEndpoint)
            {
                // An older server: invite v1 carries only events of room versions 1 and 2 (as Synapse decides).
                if (!room.Version.UsesEventIdHashPairs)
                {
                    throw new MatrixException(MatrixErrorCode.UnsupportedRoomVersion, 400, "The invitee's server does not support this room's version");
                }

                var v1 = JsonNode.Parse(ours.GetRawText())!.AsObject();
                var unsigned = v1["unsigned"] as JsonObject ?? new JsonObject();
                unsigned["invite_room_state"] = body["invite_room_state"]!.DeepClone();
                v1["unsigned"] = unsigned;
                answer = UnwrapV1(await client.PutAsync(destination, "/_matrix/federation/v1" + path, JsonSerializer.SerializeToElement(v1), ct), "invite");
            }
        }
        catch (FederationException e) when (e.StatusCode is 403 or 400)
        {
            throw new MatrixException(e.ErrCode ?? MatrixErrorCode.Forbidden, 403, "The invitee's server refused the invite: " + e.Message);
        }
        catch (FederationException e)
        {
            throw new MatrixException(MatrixErrorCode.Unknown, 502, "Could not reach the invitee's server: " + e.Message);
        }

        if (!answer.TryGetProperty("event", out var signed))
        {
            throw new MatrixException(MatrixErrorCode.Unknown, 502, "The invitee's server sent no signed invite");
        }

        var verified = await verifier.VerifyAsync(signed, room.Version, ct);
        if (verified.Event is null && !verified.BadSignature)
        {
            // Not an event of the room's version (e.g. not canonical JSON in version 6+): M_BAD_JSON, as Synapse answers.
            throw MatrixException.BadJson("The invitee's server returned an invalid invite: " + verified.Error);
        }

        if (verified.Event is not { } pdu || pdu.EventId != invite.EventId)
        {
            throw new MatrixException(MatrixErrorCode.Unknown, 502, "The invitee's server returned an invalid invite: " + verified.Error);
        }

        // The invitee's server must have signed it (over the redacted form, like every event signature).
        using var redacted = JsonDocument.Parse(Homeserver.Crypto.Redaction.Redact(pdu.Json, room.Version));
        if (!await keys.VerifyJsonAsync(redacted.RootElement, destination, Homeserver.Federation.Keys.KeyValidity.ForEvent(room.Version, pdu.OriginServerTs), ct, Homeserver.Crypto.CanonicalJson.ModeFor(room.Version)))
        {
            throw new MatrixException(MatrixErrorCode.Unknown, 502, "The invitee's server did not sign the invite");
        }

        return pdu;
    }

    public async Task<string> LeaveAsync(string userId, string roomId, Pdu? current, IReadOnlyList<string> servers, CancellationToken ct)
    {
        Exception? last = null;
        foreach (var server in servers)
        {
            try
            {
                var template = await client.GetAsync(server, $"/_matrix/federation/v1/make_leave/{Uri.EscapeDataString(roomId)}/{Uri.EscapeDataString(userId)}", ct);
                var version = RoomVersion.Find(template.TryGetProperty("room_version", out var rv) && rv.ValueKind == JsonValueKind.String ? rv.GetString() : "1")
                    ?? throw new FederationException("the room's version is not supported");
                var leave = Complete(template, version, new JsonObject { ["membership"] = Membership.Leave });
                await client.PutAsync(server, $"/_matrix/federation/v2/send_leave/{Uri.EscapeDataString(roomId)}/{Uri.EscapeDataString(leave.EventId)}", leave.Json, ct);
                var room = await Rooms.GetOrCreateRemoteRoomAsync(roomId, version, ct);
                await writer.PersistOutOfBandMembershipAsync(room, leave, ct);
                return leave.EventId;
            }
            catch (FederationException e)
            {
                last = e;
            }
        }

        if (current is not null && current.Membership is Membership.Invite or Membership.Knock && current.StateKey == userId)
        {
            // No server would take the rejection (refused, erring, unreachable): reject locally, so that the user is rid
            // of the invite; the inviting server never hears of it (Synapse's "local out-of-band leave").
            LogLocalRejection(roomId, last?.Message ?? "no servers");
            return await LeaveLocallyAsync(userId, roomId, current, ct);
        }

        throw new MatrixException(MatrixErrorCode.Unknown, 502, "Could not leave through any server: " + (last?.Message ?? "no servers"));
    }

    /// <summary>A leave built on our own, on top of the invite (or knock) it answers: its only prev event, and one of its auth events.</summary>
    private async Task<string> LeaveLocallyAsync(string userId, string roomId, Pdu current, CancellationToken ct)
    {
        var room = await Rooms.GetOrCreateRemoteRoomAsync(roomId, current.RoomVersion, ct);
        var json = factory.BuildTemplate(
            room.Version,
            roomId,
            new EventDraft(EventTypes.Member, userId, new JsonObject { ["membership"] = Membership.Leave }, userId),
            [],
            [],
            current.Depth + 1,
            time.GetUtcNow().ToUnixTimeMilliseconds());

        // The invite's own references are copied as they are (in versions 1 and 2 with hashes of events we never saw).
        JsonNode reference = room.Version.UsesEventIdHashPairs
            ? new JsonArray(current.EventId, current.Json.TryGetProperty("hashes", out var h) ? JsonNode.Parse(h.GetRawText()) : new JsonObject())
            : JsonValue.Create(current.EventId);
        var auth = current.Json.TryGetProperty("auth_events", out var a) && a.ValueKind == JsonValueKind.Array
            ? JsonNode.Parse(a.GetRawText())!.AsArray()
            : [];
        auth.Add(reference.DeepClone());
        json["prev_events"] = new JsonArray(reference);
        json["auth_events"] = auth;
        var leave = factory.Sign(room.Version, json);
        await writer.PersistOutOfBandMembershipAsync(room, leave, ct);
        return leave.EventId;
    }

    /// <summary>Fills in a make_* template with our content, origin and time, then hashes and signs it.</summary>
    private Pdu Complete(JsonElement template, RoomVersion version, JsonObject content)
    {
        var (json, eventId) = CompleteUnparsed(template, version, content);
        return Pdu.Parse(json, version, eventId);
    }

    /// <summary>
    /// <see cref="Complete"/> without parsing the result as an event of the version: a join is sent back as the resident
    /// server wrote it, and only its answer decides whether the room is one we can take part in (as Synapse does).
    /// </summary>
    private (JsonElement Json, string EventId) CompleteUnparsed(JsonElement template, RoomVersion version, JsonObject content)
    {
        if (!template.TryGetProperty("event", out var ev) || ev.ValueKind != JsonValueKind.Object)
        {
            throw new FederationException("the template has no event");
        }

        var json = JsonNode.Parse(ev.GetRawText())!.AsObject();
        var merged = json["content"] as JsonObject ?? new JsonObject();
        foreach (var (key, value) in content)
        {
            merged[key] = value?.DeepClone();
        }

        json["content"] = merged;
        json["origin_server_ts"] = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (!version.ImplicitRoomCreator)
        {
            json["origin"] = factory.ServerName;
        }

        json.Remove("signatures");
        json.Remove("hashes");
        json.Remove("unsigned");
        if (version.EventIdFormat != EventIdFormat.ServerGenerated)
        {
            json.Remove("event_id");
        }

        return factory.SignUnparsed(version, json);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Joining {RoomId} through {Server} failed: {Reason}")]
    private partial void LogJoinAttemptFailed(string roomId, string server, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "No server took the rejection of the invite to {RoomId} ({Reason}): rejected locally")]
    private partial void LogLocalRejection(string roomId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{UserId} joined {RoomId} through {Server} ({StateCount} state events)")]
    private partial void LogJoined(string userId, string roomId, string server, int stateCount);
}
