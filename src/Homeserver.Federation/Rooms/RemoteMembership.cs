
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
/// (make_join / send_join v2), asking a server to sign an invite of its user (invite v2), and leaving a room we
/// hold no state for (make_leave / send_leave v2).
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
                if (e.StatusCode == 403 && e.ErrCode == MatrixErrorCode.Forbidden)
                {
                    throw MatrixException.Forbidden(e.Message);
                }
            }
        }

        throw last is FederationException { StatusCode: 404 } || last is null
            ? MatrixException.NotFound("No known servers could join us to this room")
            : new MatrixException(MatrixErrorCode.Unknown, 502, "Could not join through any server: " + last.Message);
    }

    private async Task<(RoomRecord Room, string EventId)> JoinThroughAsync(string server, string userId, string roomId, JsonObject content, CancellationToken ct)
    {
        var path = $"/_matrix/federation/v1/make_join/{Uri.EscapeDataString(roomId)}/{Uri.EscapeDataString(userId)}?{SupportedVersionsQuery}";
        var template = await client.GetAsync(server, path, ct);
        var version = RoomVersion.Find(template.TryGetProperty("room_version", out var rv) && rv.ValueKind == JsonValueKind.String ? rv.GetString() : "1")
            ?? throw new FederationException("the room's version is not supported", 400, MatrixErrorCode.IncompatibleRoomVersion);
        var joinEvent = Complete(template, version, content);

        var sendPath = $"/_matrix/federation/v2/send_join/{Uri.EscapeDataString(roomId)}/{Uri.EscapeDataString(joinEvent.EventId)}";
        var answer = await client.PutAsync(server, sendPath, joinEvent.Json, ct, TimeSpan.FromMinutes(5));

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

    public async Task<Pdu> ApproveInviteAsync(RoomRecord room, Pdu invite, IReadOnlyList<JsonElement> strippedState, CancellationToken ct)
    {
        var destination = MatrixId.ServerOf(invite.StateKey!) ?? throw MatrixException.InvalidParam("Invalid user ID");
        var body = new JsonObject
        {
            ["room_version"] = room.Version.Id,
            ["event"] = JsonNode.Parse(invite.Json.GetRawText()),
            ["invite_room_state"] = new JsonArray([.. strippedState.Select(s => JsonNode.Parse(s.GetRawText()))]),
        };
        JsonElement answer;
        try
        {
            answer = await client.PutAsync(destination, $"/_matrix/federation/v2/invite/{Uri.EscapeDataString(room.RoomId)}/{Uri.EscapeDataString(invite.EventId)}",
                JsonSerializer.SerializeToElement(body), ct);
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

    public async Task<string> LeaveAsync(string userId, string roomId, IReadOnlyList<string> servers, CancellationToken ct)
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

        throw new MatrixException(MatrixErrorCode.Unknown, 502, "Could not leave through any server: " + (last?.Message ?? "no servers"));
    }

    /// <summary>Fills in a make_* template with our content, origin and time, then hashes and signs it.</summary>
    private Pdu Complete(JsonElement template, RoomVersion version, JsonObject content)
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

        return factory.Sign(version, json);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Joining {RoomId} through {Server} failed: {Reason}")]
    private partial void LogJoinAttemptFailed(string roomId, string server, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{UserId} joined {RoomId} through {Server} ({StateCount} state events)")]
    private partial void LogJoined(string userId, string roomId, string server, int stateCount);
}
