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

/// <summary>Room membership (client-server API, "Room membership").</summary>
public static class MembershipEndpoints
{
    public static IEndpointRouteBuilder MapMembershipEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapPost("/rooms/{roomId}/join", JoinById);
        v3.MapPost("/join/{roomIdOrAlias}", JoinByIdOrAlias);
        v3.MapPost("/rooms/{roomId}/leave", Leave);
        v3.MapPost("/rooms/{roomId}/invite", Invite);
        v3.MapPost("/rooms/{roomId}/kick", Kick);
        v3.MapPost("/rooms/{roomId}/ban", Ban);
        v3.MapPost("/rooms/{roomId}/unban", Unban);
        v3.MapPost("/knock/{roomIdOrAlias}", Knock);
        return app;
    }

    /// <summary>
    /// POST /_matrix/client/v3/rooms/{roomId}/join — join a room by ID.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidjoin
    /// </summary>
    private static Task<IResult> JoinById(HttpContext http, Authed auth, RoomService rooms, string roomId, CancellationToken ct) =>
        JoinAsync(http, auth, rooms, RouteValues.Decode(roomId), ServersFromQuery(http), ct);

    /// <summary>
    /// POST /_matrix/client/v3/join/{roomIdOrAlias} — join a room by ID or alias.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3joinroomidoralias
    /// </summary>
    private static async Task<IResult> JoinByIdOrAlias(HttpContext http, Authed auth, RoomService rooms, RoomDirectory aliases, string roomIdOrAlias, CancellationToken ct)
    {
        var target = RouteValues.Decode(roomIdOrAlias);
        var servers = ServersFromQuery(http);
        if (target.StartsWith('#'))
        {
            var found = await aliases.LookupAsync(target, ct) ?? throw MatrixException.NotFound($"Room alias {target} not found");
            target = found.RoomId;
            servers.AddRange(found.Servers);
        }

        return await JoinAsync(http, auth, rooms, target, servers, ct);
    }

    private static async Task<IResult> JoinAsync(HttpContext http, Authed auth, RoomService rooms, string roomId, List<string> servers, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        if (!MatrixId.IsValidRoomId(roomId))
        {
            throw MatrixException.InvalidParam("Invalid room ID");
        }

        var room = await rooms.FindRoomAsync(roomId, ct);
        if (room is null || await NeedsRemoteJoinAsync(rooms, room, ct))
        {
            // Not a room we are in: join it through another server.
            var (joined, eventId) = await rooms.JoinRemoteAsync(auth.Requester, roomId, servers, ct);
            return JsonResults.Node(new JsonObject { ["room_id"] = joined.RoomId, ["event_id"] = eventId });
        }

        var result = await rooms.SetMembershipAsync(auth.Requester, room, auth.UserId, Membership.Join, body.OptionalString("reason"), ExtraJoinContent(body), ct);
        return JsonResults.Node(new JsonObject { ["room_id"] = room.RoomId, ["event_id"] = result.EventId });
    }

    /// <summary>
    /// The join body's other keys, which go into the membership content as Synapse puts them (the spec names only
    /// <c>reason</c> and <c>third_party_signed</c>, which are not content; <c>membership</c> is always ours).
    /// </summary>
    private static JsonObject? ExtraJoinContent(JsonElement body)
    {
        JsonObject? extra = null;
        foreach (var property in body.EnumerateObject())
        {
            if (property.Name is "reason" or "third_party_signed" or "membership")
            {
                continue;
            }

            extra ??= [];
            extra[property.Name] = JsonNode.Parse(property.Value.GetRawText());
        }

        return extra;
    }

    /// <summary>
    /// Whether a join must go through another server: we hold no state for the room, or none of our users is joined
    /// any more (our copy of the state is no longer kept up to date) while other servers' users still are.
    /// </summary>
    private static async Task<bool> NeedsRemoteJoinAsync(RoomService rooms, Homeserver.Rooms.Persistence.RoomRecord room, CancellationToken ct)
    {
        var head = await rooms.GetHeadAsync(room, ct);
        if (head.ForwardExtremities.Count == 0)
        {
            return true;
        }

        return !await rooms.IsResidentAsync(head, ct) && await rooms.HasRemoteJoinedMemberAsync(head, ct);
    }

    /// <summary>The servers a client suggests joining through (<c>via</c>, and the older <c>server_name</c>).</summary>
    private static List<string> ServersFromQuery(HttpContext http) =>
        http.Request.Query["via"].Concat(http.Request.Query["server_name"]).Where(s => s is not null && ServerName.IsValid(s)).Select(s => s!).Distinct().ToList();

    /// <summary>
    /// POST /_matrix/client/v3/rooms/{roomId}/leave — leave a room (or reject an invite).
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidleave
    /// </summary>
    private static async Task<IResult> Leave(HttpContext http, Authed auth, RoomService rooms, string roomId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        await rooms.SetMembershipAsync(auth.Requester, room, auth.UserId, Membership.Leave, body.OptionalString("reason"), null, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/rooms/{roomId}/invite — invite a user.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidinvite
    /// </summary>
    private static Task<IResult> Invite(HttpContext http, Authed auth, RoomService rooms, string roomId, CancellationToken ct) =>
        TargetedAsync(http, auth, rooms, roomId, Membership.Invite, ct);

    /// <summary>
    /// POST /_matrix/client/v3/rooms/{roomId}/kick — kick a user (their membership becomes leave).
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidkick
    /// </summary>
    private static async Task<IResult> Kick(HttpContext http, Authed auth, RoomService rooms, string roomId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var target = body.RequiredString("user_id");
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);

        // A kick is a leave set by someone else; of a banned user it would lift the ban, which is /unban's job (Synapse
        // refuses it the same way).
        if (await rooms.GetMembershipAsync(room, target, ct) == Membership.Ban)
        {
            throw MatrixException.Forbidden($"{target} is banned: unban them instead of kicking");
        }

        await rooms.SetMembershipAsync(auth.Requester, room, target, Membership.Leave, body.OptionalString("reason"), null, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/rooms/{roomId}/ban — ban a user.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidban
    /// </summary>
    private static Task<IResult> Ban(HttpContext http, Authed auth, RoomService rooms, string roomId, CancellationToken ct) =>
        TargetedAsync(http, auth, rooms, roomId, Membership.Ban, ct);

    /// <summary>
    /// POST /_matrix/client/v3/rooms/{roomId}/unban — unban a user (their membership becomes leave).
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidunban
    /// </summary>
    private static async Task<IResult> Unban(HttpContext http, Authed auth, RoomService rooms, string roomId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var target = body.RequiredString("user_id");
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        if (await rooms.GetMembershipAsync(room, target, ct) != Membership.Ban)
        {
            throw MatrixException.Forbidden($"{target} is not banned");
        }

        await rooms.SetMembershipAsync(auth.Requester, room, target, Membership.Leave, body.OptionalString("reason"), null, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/knock/{roomIdOrAlias} — ask to join a room with the knock join rule.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3knockroomidoralias
    /// </summary>
    private static async Task<IResult> Knock(HttpContext http, Authed auth, RoomService rooms, RoomDirectory aliases, string roomIdOrAlias, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        var target = RouteValues.Decode(roomIdOrAlias);
        if (target.StartsWith('#'))
        {
            target = await aliases.ResolveAsync(target, ct);
        }

        var room = await RoomEndpoints.RequireRoomAsync(rooms, target, ct);
        await rooms.SetMembershipAsync(auth.Requester, room, auth.UserId, Membership.Knock, body.OptionalString("reason"), null, ct);
        return JsonResults.Node(new JsonObject { ["room_id"] = room.RoomId });
    }

    private static async Task<IResult> TargetedAsync(HttpContext http, Authed auth, RoomService rooms, string roomId, string membership, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        if (membership == Membership.Invite && body.OptionalString("user_id") is null && body.OptionalString("medium") is not null)
        {
            throw MatrixException.Forbidden("Third-party invites are not supported by this server");
        }

        var target = body.RequiredString("user_id");
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        await rooms.SetMembershipAsync(auth.Requester, room, target, membership, body.OptionalString("reason"), null, ct);
        return JsonResults.Empty();
    }
}
