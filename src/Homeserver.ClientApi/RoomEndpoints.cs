using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Rooms;
using Homeserver.Rooms.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Creating rooms and sending events (client-server API, "Rooms" and "Sending events to a room").</summary>
public static class RoomEndpoints
{
    public static IEndpointRouteBuilder MapRoomEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapPost("/createRoom", CreateRoom);
        v3.MapPut("/rooms/{roomId}/send/{eventType}/{txnId}", Send);
        v3.MapPut("/rooms/{roomId}/state/{eventType}", (HttpContext http, Authed auth, RoomService rooms, string roomId, string eventType, CancellationToken ct) =>
            SetState(http, auth, rooms, roomId, eventType, string.Empty, ct));
        v3.MapPut("/rooms/{roomId}/state/{eventType}/{stateKey}", SetState);
        v3.MapPut("/rooms/{roomId}/redact/{eventId}/{txnId}", Redact);

        // The forms without a transaction ID from before r0 that Synapse still serves (and SyTest uses): each request
        // is a new event, with no idempotency.
        v3.MapPost("/rooms/{roomId}/send/{eventType}", (HttpContext http, Authed auth, RoomService rooms, string roomId, string eventType, CancellationToken ct) =>
            Send(http, auth, rooms, roomId, eventType, null, ct));
        v3.MapPost("/rooms/{roomId}/redact/{eventId}", (HttpContext http, Authed auth, RoomService rooms, string roomId, string eventId, CancellationToken ct) =>
            Redact(http, auth, rooms, roomId, eventId, null, ct));
        return app;
    }

    /// <summary>
    /// POST /_matrix/client/v3/createRoom — create a room with its initial state.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3createroom
    /// </summary>
    private static async Task<IResult> CreateRoom(HttpContext http, Authed auth, RoomService rooms, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        var visibility = body.OptionalString("visibility");
        if (visibility is not (null or "public" or "private"))
        {
            throw MatrixException.BadJson("visibility must be 'public' or 'private'");
        }

        var initialState = new List<(string, string, JsonObject)>();
        if (body.OptionalArray("initial_state") is { } states)
        {
            foreach (var s in states.EnumerateArray())
            {
                if (s.ValueKind != JsonValueKind.Object)
                {
                    throw MatrixException.BadJson("initial_state entries must be objects");
                }

                var content = s.OptionalObject("content") ?? throw MatrixException.BadJson("initial_state entries need content");
                initialState.Add((s.RequiredString("type"), s.OptionalString("state_key") ?? string.Empty, ToObject(content)));
            }
        }

        var request = new CreateRoomRequest
        {
            Preset = body.OptionalString("preset"),
            Visibility = visibility,
            RoomAliasName = body.OptionalString("room_alias_name"),
            Name = body.OptionalString("name"),
            Topic = body.OptionalString("topic"),
            Invite = body.OptionalStringArray("invite") ?? [],
            InitialState = initialState,
            PowerLevelContentOverride = body.OptionalObject("power_level_content_override") is { } pl ? ToObject(pl) : null,
            CreationContent = body.OptionalObject("creation_content") is { } cc ? ToObject(cc) : null,
            IsDirect = body.OptionalBool("is_direct") ?? false,
            RoomVersion = body.OptionalString("room_version"),
        };
        var (room, _) = await rooms.CreateRoomAsync(auth.Requester, request, ct);
        return JsonResults.Node(new JsonObject { ["room_id"] = room.RoomId });
    }

    /// <summary>
    /// PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId} — send a message event; idempotent per device and transaction ID.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid
    /// </summary>
    private static async Task<IResult> Send(HttpContext http, Authed auth, RoomService rooms, string roomId, string eventType, string? txnId, CancellationToken ct)
    {
        var content = await JsonBody.ReadObjectAsync(http, maxBytes: 65536);
        var room = await RequireRoomAsync(rooms, roomId, ct);
        var result = await rooms.SendAsync(auth.Requester, room, RouteValues.Decode(eventType), null, ToObject(content), txnId is null ? null : RouteValues.Decode(txnId), ct);
        return JsonResults.Node(new JsonObject { ["event_id"] = result.EventId });
    }

    /// <summary>
    /// PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey} — send a state event.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidstateeventtypestatekey
    /// </summary>
    private static async Task<IResult> SetState(HttpContext http, Authed auth, RoomService rooms, string roomId, string eventType, string stateKey, CancellationToken ct)
    {
        var content = await JsonBody.ReadObjectAsync(http, maxBytes: 65536);
        var room = await RequireRoomAsync(rooms, roomId, ct);
        var type = RouteValues.Decode(eventType);
        var key = RouteValues.Decode(stateKey);
        var contentObject = ToObject(content);
        if (type == EventTypes.Member)
        {
            // Membership through the state API goes through the same checks as the membership endpoints.
            var membership = content.OptionalString("membership") ?? throw MatrixException.BadJson("m.room.member content needs membership");
            var result = await rooms.SetMembershipAsync(auth.Requester, room, key, membership, content.OptionalString("reason"), contentObject, ct);
            return JsonResults.Node(new JsonObject { ["event_id"] = result.EventId });
        }

        var sent = await rooms.SendAsync(auth.Requester, room, type, key, contentObject, null, ct);
        return JsonResults.Node(new JsonObject { ["event_id"] = sent.EventId });
    }

    /// <summary>
    /// PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId} — redact an event.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidredacteventidtxnid
    /// </summary>
    private static async Task<IResult> Redact(HttpContext http, Authed auth, RoomService rooms, string roomId, string eventId, string? txnId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        var room = await RequireRoomAsync(rooms, roomId, ct);
        var result = await rooms.RedactAsync(auth.Requester, room, RouteValues.Decode(eventId), body.OptionalString("reason"), txnId is null ? null : RouteValues.Decode(txnId), ct);
        return JsonResults.Node(new JsonObject { ["event_id"] = result.EventId });
    }

    internal static async Task<Homeserver.Rooms.Persistence.RoomRecord> RequireRoomAsync(RoomService rooms, string roomId, CancellationToken ct)
    {
        roomId = RouteValues.Decode(roomId);
        if (!MatrixId.IsValidRoomId(roomId))
        {
            throw MatrixException.InvalidParam("Invalid room ID");
        }

        return await rooms.FindRoomAsync(roomId, ct) ?? throw MatrixException.NotFound("Unknown room");
    }

    // A node over the parsed body's element, read on first use (writing the element out as text to parse it again was
    // one of the larger allocations of a send).
    internal static JsonObject ToObject(JsonElement element) => JsonObject.Create(element)!;
}
