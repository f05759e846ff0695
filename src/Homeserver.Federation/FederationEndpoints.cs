using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Federation;
using Homeserver.Federation.Events;
using Homeserver.Federation.Rooms;
using Homeserver.Federation.Sending;
using Homeserver.Http;
using Homeserver.Rooms;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation;

/// <summary>
/// The server-server API's room endpoints (server-server API: transactions, events, joins, invites, leaves). Every
/// room-scoped endpoint first applies the room's server ACL (403 M_FORBIDDEN for a denied origin), as the spec lists.
/// </summary>
public static partial class FederationEndpoints
{
    public static IEndpointRouteBuilder MapFederationEndpoints(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/_matrix/federation/v1");
        var v2 = app.MapGroup("/_matrix/federation/v2");
        v1.MapPut("/send/{txnId}", Send);
        v1.MapGet("/event/{eventId}", GetEvent);
        v1.MapGet("/state/{roomId}", GetState);
        v1.MapGet("/state_ids/{roomId}", GetStateIds);
        v1.MapGet("/event_auth/{roomId}/{eventId}", GetEventAuth);
        v1.MapGet("/backfill/{roomId}", Backfill);
        v1.MapPost("/get_missing_events/{roomId}", GetMissingEvents);
        v1.MapGet("/make_join/{roomId}/{userId}", (HttpContext http, FederationRequest request, FederationMembershipHandler handler, ServerAcls acls, string roomId, string userId, CancellationToken ct) =>
            MakeAsync(http, request, handler, acls, roomId, userId, Membership.Join, ct));
        v1.MapGet("/make_leave/{roomId}/{userId}", (HttpContext http, FederationRequest request, FederationMembershipHandler handler, ServerAcls acls, string roomId, string userId, CancellationToken ct) =>
            MakeAsync(http, request, handler, acls, roomId, userId, Membership.Leave, ct));
        v1.MapGet("/make_knock/{roomId}/{userId}", (HttpContext http, FederationRequest request, FederationMembershipHandler handler, ServerAcls acls, string roomId, string userId, CancellationToken ct) =>
            MakeAsync(http, request, handler, acls, roomId, userId, Membership.Knock, ct));
        v2.MapPut("/send_join/{roomId}/{eventId}", SendJoinV2);
        v1.MapPut("/send_join/{roomId}/{eventId}", SendJoinV1);
        v2.MapPut("/send_leave/{roomId}/{eventId}", (FederationRequest request, FederationMembershipHandler handler, ServerAcls acls, string roomId, string eventId, CancellationToken ct) =>
            SendLeaveAsync(request, handler, acls, roomId, eventId, v1Shape: false, ct));
        v1.MapPut("/send_leave/{roomId}/{eventId}", (FederationRequest request, FederationMembershipHandler handler, ServerAcls acls, string roomId, string eventId, CancellationToken ct) =>
            SendLeaveAsync(request, handler, acls, roomId, eventId, v1Shape: true, ct));
        v1.MapPut("/send_knock/{roomId}/{eventId}", SendKnock);
        v2.MapPut("/invite/{roomId}/{eventId}", InviteV2);
        v1.MapPut("/invite/{roomId}/{eventId}", InviteV1);
        return app;
    }

    /// <summary>
    /// PUT /_matrix/federation/v1/send/{txnId} — a transaction of PDUs and EDUs from another server.
    /// https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv1sendtxnid
    /// </summary>
    private static async Task<IResult> Send(
        FederationRequest request, FederationEventHandler handler, TransactionDeduplicator dedup, FederationSender sender,
        IEnumerable<IEduHandler> eduHandlers, ServerAclFilter aclFilter, ILoggerFactory loggers, string txnId, CancellationToken ct)
    {
        if (dedup.Get(request.Origin, txnId) is { } previous)
        {
            return JsonResults.Node(previous);
        }

        var body = request.RequireBody();
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("Transaction must be an object");
        }

        var pdus = body.OptionalArray("pdus");
        if (pdus is { } p && p.GetArrayLength() > 50)
        {
            throw MatrixException.BadJson("At most 50 PDUs per transaction");
        }

        // The sender is evidently up: deliver anything it missed.
        _ = sender.ResetBackoffAsync(request.Origin, CancellationToken.None);

        var results = new JsonObject();
        foreach (var pdu in pdus?.EnumerateArray() ?? default)
        {
            var (id, error) = await aclFilter.DeniedPduAsync(request.Origin, pdu, ct) ?? await handler.ReceiveWithIdAsync(request.Origin, pdu, ct);
            if (id is not null)
            {
                results[id] = error is null ? new JsonObject() : new JsonObject { ["error"] = error };
            }
        }

        var handlers = eduHandlers.ToDictionary(h => h.EduType, StringComparer.Ordinal);
        var log = loggers.CreateLogger("Homeserver.Federation.Edus");
        foreach (var edu in body.OptionalArray("edus")?.EnumerateArray() ?? default)
        {
            if (edu.ValueKind == JsonValueKind.Object && edu.OptionalString("edu_type") is { } type && handlers.TryGetValue(type, out var eduHandler)
                && edu.TryGetProperty("content", out var content))
            {
                try
                {
                    await eduHandler.HandleAsync(request.Origin, content, ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // One bad EDU must not fail the transaction (the sender would retry it forever).
                    LogEduFailed(log, ex, type, request.Origin);
                }
            }
        }

        var response = new JsonObject { ["pdus"] = results };
        dedup.Remember(request.Origin, txnId, response);
        return JsonResults.Node(response);
    }

    /// <summary>
    /// GET /_matrix/federation/v1/event/{eventId} — one event.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1eventeventid
    /// </summary>
    private static async Task<IResult> GetEvent(FederationRequest request, FederationRoomReader reader, HomeserverConfig config, TimeProvider time, EventFactory signer, string eventId, CancellationToken ct)
    {
        var pdu = await reader.GetEventAsync(Decode(eventId), ct);
        await reader.RequireServerInRoomAsync(await reader.RequireRoomAsync(pdu.RoomId, ct), request.Origin, ct);
        return Transaction(config, time, signer, await reader.ForServerAsync([pdu], ct));
    }

    /// <summary>
    /// GET /_matrix/federation/v1/state/{roomId} — the state before an event, and its auth chain.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1stateroomid
    /// </summary>
    private static async Task<IResult> GetState(HttpContext http, FederationRequest request, FederationRoomReader reader, ServerAcls acls, EventFactory signer, string roomId, CancellationToken ct)
    {
        // The parameters are checked before the room, as Synapse does: a request without event_id is a 400 whatever the room.
        var eventId = http.Request.Query["event_id"].ToString();
        if (eventId.Length == 0)
        {
            throw MatrixException.MissingParam("Missing event_id");
        }

        await acls.RequireAllowedAsync(Decode(roomId), request.Origin, ct);
        var room = await reader.RequireRoomAsync(Decode(roomId), ct);
        await reader.RequireServerInRoomAsync(room, request.Origin, ct);

        var (state, chain) = await reader.GetStateAtAsync(room, eventId, ct);
        return JsonResults.Node(new JsonObject { ["pdus"] = Events(signer, state), ["auth_chain"] = Events(signer, chain) });
    }

    /// <summary>
    /// GET /_matrix/federation/v1/state_ids/{roomId} — the IDs of the state before an event, and of its auth chain.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1state_idsroomid
    /// </summary>
    private static async Task<IResult> GetStateIds(HttpContext http, FederationRequest request, FederationRoomReader reader, ServerAcls acls, string roomId, CancellationToken ct)
    {
        // The parameters are checked before the room, as Synapse does: a request without event_id is a 400 whatever the room.
        var eventId = http.Request.Query["event_id"].ToString();
        if (eventId.Length == 0)
        {
            throw MatrixException.MissingParam("Missing event_id");
        }

        await acls.RequireAllowedAsync(Decode(roomId), request.Origin, ct);
        var room = await reader.RequireRoomAsync(Decode(roomId), ct);
        await reader.RequireServerInRoomAsync(room, request.Origin, ct);

        var (state, chain) = await reader.GetStateAtAsync(room, eventId, ct);
        return JsonResults.Node(new JsonObject { ["pdu_ids"] = Ids(state), ["auth_chain_ids"] = Ids(chain) });
    }

    /// <summary>
    /// GET /_matrix/federation/v1/event_auth/{roomId}/{eventId} — the auth chain of an event.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1event_authroomideventid
    /// </summary>
    private static async Task<IResult> GetEventAuth(FederationRequest request, FederationRoomReader reader, ServerAcls acls, EventFactory signer, string roomId, string eventId, CancellationToken ct)
    {
        await acls.RequireAllowedAsync(Decode(roomId), request.Origin, ct);
        var room = await reader.RequireRoomAsync(Decode(roomId), ct);
        await reader.RequireServerInRoomAsync(room, request.Origin, ct);
        var chain = await reader.GetAuthChainAsync(room, Decode(eventId), ct);
        return JsonResults.Node(new JsonObject { ["auth_chain"] = Events(signer, chain) });
    }

    /// <summary>
    /// GET /_matrix/federation/v1/backfill/{roomId} — earlier events, from the given ones backwards.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1backfillroomid
    /// </summary>
    private static async Task<IResult> Backfill(HttpContext http, FederationRequest request, FederationRoomReader reader, ServerAcls acls, HomeserverConfig config, TimeProvider time, EventFactory signer, string roomId, CancellationToken ct)
    {
        await acls.RequireAllowedAsync(Decode(roomId), request.Origin, ct);
        var room = await reader.RequireRoomAsync(Decode(roomId), ct);
        await reader.RequireServerInRoomAsync(room, request.Origin, ct);
        var from = http.Request.Query["v"].Where(v => v is not null).Select(v => v!).ToList();
        if (from.Count == 0)
        {
            throw MatrixException.MissingParam("Missing v");
        }

        if (!int.TryParse(http.Request.Query["limit"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var limit))
        {
            throw MatrixException.MissingParam("Missing or invalid limit");
        }

        var events = await reader.BackfillAsync(room, from, Math.Clamp(limit, 0, 100), ct);
        return Transaction(config, time, signer, await reader.ForServerAsync(events, ct));
    }

    /// <summary>
    /// POST /_matrix/federation/v1/get_missing_events/{roomId} — events between what a server has and what it got.
    /// https://spec.matrix.org/v1.19/server-server-api/#post_matrixfederationv1get_missing_eventsroomid
    /// </summary>
    private static async Task<IResult> GetMissingEvents(FederationRequest request, FederationRoomReader reader, ServerAcls acls, EventFactory signer, string roomId, CancellationToken ct)
    {
        await acls.RequireAllowedAsync(Decode(roomId), request.Origin, ct);
        var room = await reader.RequireRoomAsync(Decode(roomId), ct);
        await reader.RequireServerInRoomAsync(room, request.Origin, ct);
        var body = request.RequireBody();
        var earliest = body.OptionalStringArray("earliest_events") ?? [];
        // Both lists may be missing (an empty answer then), as Synapse allows.
        var latest = body.OptionalStringArray("latest_events") ?? [];
        var limit = (int)Math.Clamp(body.OptionalInt("limit") ?? 10, 0, 100);
        var minDepth = body.OptionalInt("min_depth") ?? 0;
        var events = await reader.GetMissingEventsAsync(room, earliest, latest, limit, minDepth, ct);
        return JsonResults.Node(new JsonObject { ["events"] = Events(signer, await reader.ForServerAsync(events, ct)) });
    }

    /// <summary>
    /// GET /_matrix/federation/v1/make_join|make_leave|make_knock/{roomId}/{userId} — a membership event template.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1make_joinroomiduserid
    /// </summary>
    private static async Task<IResult> MakeAsync(HttpContext http, FederationRequest request, FederationMembershipHandler handler, ServerAcls acls, string roomId, string userId, string membership, CancellationToken ct)
    {
        await acls.RequireAllowedAsync(Decode(roomId), request.Origin, ct);
        var versions = http.Request.Query["ver"].Where(v => v is not null).Select(v => v!).ToList();
        var template = await handler.MakeAsync(request.Origin, Decode(roomId), Decode(userId), membership, membership == Membership.Leave ? null : versions.Count > 0 ? versions : ["1"], ct);
        return JsonResults.Node(template);
    }

    /// <summary>
    /// PUT /_matrix/federation/v2/send_join/{roomId}/{eventId} — accept a join and answer with the room's state.
    /// https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv2send_joinroomideventid
    /// </summary>
    private static async Task<IResult> SendJoinV2(FederationRequest request, FederationMembershipHandler handler, FederationRoomReader reader, ServerAcls acls, HomeserverConfig config, EventFactory signer, string roomId, string eventId, CancellationToken ct) =>
        JsonResults.Node(await SendJoinAsync(request, handler, reader, acls, config, signer, roomId, eventId, ct));

    /// <summary>PUT /_matrix/federation/v1/send_join/{roomId}/{eventId} — the deprecated form: <c>[200, answer]</c>.</summary>
    private static async Task<IResult> SendJoinV1(FederationRequest request, FederationMembershipHandler handler, FederationRoomReader reader, ServerAcls acls, HomeserverConfig config, EventFactory signer, string roomId, string eventId, CancellationToken ct) =>
        JsonResults.Node(new JsonArray(200, await SendJoinAsync(request, handler, reader, acls, config, signer, roomId, eventId, ct)));

    private static async Task<JsonObject> SendJoinAsync(FederationRequest request, FederationMembershipHandler handler, FederationRoomReader reader, ServerAcls acls, HomeserverConfig config, EventFactory signer, string roomId, string eventId, CancellationToken ct)
    {
        await acls.RequireAllowedAsync(Decode(roomId), request.Origin, ct);
        var (join, room) = await handler.SendAsync(request.Origin, Decode(roomId), Decode(eventId), request.RequireBody(), Membership.Join, ct);
        var (state, chain) = await reader.GetStateAtAsync(room, join.EventId, ct);
        var joinChain = await reader.GetAuthChainAsync(room, join.EventId, ct);
        var allChain = chain.Concat(joinChain).GroupBy(e => e.EventId).Select(g => g.First()).ToList();
        return new JsonObject
        {
            ["origin"] = config.ServerName,
            ["state"] = Events(signer, state),
            ["auth_chain"] = Events(signer, allChain),
            ["event"] = JsonNode.Parse(signer.ForFederation(join).GetRawText()),
            ["members_omitted"] = false,
        };
    }

    private static async Task<IResult> SendLeaveAsync(FederationRequest request, FederationMembershipHandler handler, ServerAcls acls, string roomId, string eventId, bool v1Shape, CancellationToken ct)
    {
        await acls.RequireAllowedAsync(Decode(roomId), request.Origin, ct);
        await handler.SendAsync(request.Origin, Decode(roomId), Decode(eventId), request.RequireBody(), Membership.Leave, ct);
        return v1Shape ? JsonResults.Node(new JsonArray(200, new JsonObject())) : JsonResults.Empty();
    }

    /// <summary>
    /// PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId} — accept a knock; answer with the room's stripped state.
    /// https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv1send_knockroomideventid
    /// </summary>
    private static async Task<IResult> SendKnock(FederationRequest request, FederationMembershipHandler handler, RoomService rooms, ServerAcls acls, string roomId, string eventId, CancellationToken ct)
    {
        await acls.RequireAllowedAsync(Decode(roomId), request.Origin, ct);
        var (_, room) = await handler.SendAsync(request.Origin, Decode(roomId), Decode(eventId), request.RequireBody(), Membership.Knock, ct);
        var head = await rooms.GetHeadAsync(room, ct);
        string[] types = ["m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar", "m.room.canonical_alias", "m.room.encryption", "m.room.topic"];
        var ids = types.Select(t => head.State.GetValueOrDefault(new StateKey(t, string.Empty))).OfType<string>().ToList();
        var stripped = new JsonArray();
        foreach (var e in (await rooms.GetEventsAsync(ids, ct)).Values)
        {
            stripped.Add(new JsonObject { ["type"] = e.Type, ["state_key"] = e.StateKey, ["sender"] = e.Sender, ["content"] = JsonNode.Parse(e.Content.GetRawText()) });
        }

        return JsonResults.Node(new JsonObject { ["knock_room_state"] = stripped, ["knock_state_events"] = stripped.DeepClone() });
    }

    /// <summary>
    /// PUT /_matrix/federation/v2/invite/{roomId}/{eventId} — another server invites one of our users.
    /// https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv2inviteroomideventid
    /// </summary>
    private static async Task<IResult> InviteV2(FederationRequest request, FederationMembershipHandler handler, ServerAcls acls, string roomId, string eventId, CancellationToken ct)
    {
        await acls.RequireAllowedAsync(Decode(roomId), request.Origin, ct);
        var signed = await handler.InviteAsync(request.Origin, Decode(roomId), Decode(eventId), request.RequireBody(), ct);
        return JsonResults.Node(new JsonObject { ["event"] = JsonNode.Parse(signed.Json.GetRawText()) });
    }

    /// <summary>
    /// PUT /_matrix/federation/v1/invite/{roomId}/{eventId} — the deprecated first version, still sent by older servers
    /// (and SyTest): the body is the event itself (its stripped state in unsigned.invite_room_state), the room is of
    /// version 1 or 2 (whose events the same rules check), and the answer is [200, {"event": ...}].
    /// https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv1inviteroomideventid
    /// </summary>
    private static async Task<IResult> InviteV1(FederationRequest request, FederationMembershipHandler handler, ServerAcls acls, string roomId, string eventId, CancellationToken ct)
    {
        await acls.RequireAllowedAsync(Decode(roomId), request.Origin, ct);
        var body = request.RequireBody();
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("The invite must be an event object");
        }

        var wrapped = new JsonObject { ["event"] = JsonNode.Parse(body.GetRawText()), ["room_version"] = "1" };
        if (body.TryGetProperty("unsigned", out var unsigned) && unsigned.ValueKind == JsonValueKind.Object
            && unsigned.TryGetProperty("invite_room_state", out var stripped) && stripped.ValueKind == JsonValueKind.Array)
        {
            wrapped["invite_room_state"] = JsonNode.Parse(stripped.GetRawText());
        }

        var signed = await handler.InviteAsync(request.Origin, Decode(roomId), Decode(eventId), JsonSerializer.SerializeToElement(wrapped), ct);
        return JsonResults.Node(new JsonArray(200, new JsonObject { ["event"] = JsonNode.Parse(signed.Json.GetRawText()) }));
    }

    private static IResult Transaction(HomeserverConfig config, TimeProvider time, EventFactory signer, IEnumerable<Pdu> pdus) => JsonResults.Node(new JsonObject
    {
        ["origin"] = config.ServerName,
        ["origin_server_ts"] = time.GetUtcNow().ToUnixTimeMilliseconds(),
        ["pdus"] = Events(signer, pdus),
    });

    // Our events leave with our signature, which the writer left for now (EventFactory.BuildLocal).
    private static JsonArray Events(EventFactory signer, IEnumerable<Pdu> pdus) => new([.. pdus.Select(p => JsonNode.Parse(signer.ForFederation(p).GetRawText()))]);

    private static JsonArray Ids(IEnumerable<Pdu> pdus) => new([.. pdus.Select(p => (JsonNode)JsonValue.Create(p.EventId))]);

    private static string Decode(string value) => value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);

    [LoggerMessage(Level = LogLevel.Warning, Message = "EDU {EduType} from {Origin} failed")]
    private static partial void LogEduFailed(ILogger logger, Exception e, string eduType, string origin);
}
