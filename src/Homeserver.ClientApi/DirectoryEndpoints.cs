using System.Globalization;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Http;
using Homeserver.Rooms.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Room aliases and the public room directory (client-server API, "Room aliases" and "Listing rooms").</summary>
public static class DirectoryEndpoints
{
    public static IEndpointRouteBuilder MapDirectoryEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapPut("/directory/room/{roomAlias}", PutAlias);
        v3.MapGet("/directory/room/{roomAlias}", GetAlias);
        v3.MapDelete("/directory/room/{roomAlias}", DeleteAlias);
        v3.MapGet("/rooms/{roomId}/aliases", GetRoomAliases);
        v3.MapGet("/directory/list/room/{roomId}", GetVisibility);
        v3.MapPut("/directory/list/room/{roomId}", PutVisibility);
        v3.MapGet("/publicRooms", GetPublicRooms);
        v3.MapPost("/publicRooms", PostPublicRooms);
        return app;
    }

    /// <summary>
    /// PUT /_matrix/client/v3/directory/room/{roomAlias} — create an alias of one of our rooms.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3directoryroomroomalias
    /// </summary>
    private static async Task<IResult> PutAlias(HttpContext http, Authed auth, RoomAliases aliases, string roomAlias, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var roomId = body.RequiredString("room_id");
        await aliases.CreateAsync(auth.Requester, RouteValues.Decode(roomAlias), roomId, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// GET /_matrix/client/v3/directory/room/{roomAlias} — the room an alias points to (other servers' through federation).
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3directoryroomroomalias
    /// </summary>
    private static async Task<IResult> GetAlias(RoomAliases aliases, string roomAlias, CancellationToken ct) =>
        JsonResults.Node(await aliases.ResolveAsync(RouteValues.Decode(roomAlias), ct));

    /// <summary>
    /// DELETE /_matrix/client/v3/directory/room/{roomAlias} — remove one of our aliases.
    /// https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3directoryroomroomalias
    /// </summary>
    private static async Task<IResult> DeleteAlias(Authed auth, RoomAliases aliases, string roomAlias, CancellationToken ct)
    {
        await aliases.DeleteAsync(auth.Requester, RouteValues.Decode(roomAlias), ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// GET /_matrix/client/v3/rooms/{roomId}/aliases — the room's local aliases.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidaliases
    /// </summary>
    private static async Task<IResult> GetRoomAliases(Authed auth, RoomService rooms, RoomAliases aliases, string roomId, CancellationToken ct)
    {
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var list = await aliases.GetRoomAliasesAsync(auth.UserId, room, ct);
        return JsonResults.Node(new JsonObject { ["aliases"] = new JsonArray([.. list.Select(a => (JsonNode)JsonValue.Create(a))]) });
    }

    /// <summary>
    /// GET /_matrix/client/v3/directory/list/room/{roomId} — whether the room is in the public directory.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3directorylistroomroomid
    /// </summary>
    private static async Task<IResult> GetVisibility(RoomService rooms, RoomDirectory directory, string roomId, CancellationToken ct)
    {
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var published = await directory.IsPublishedAsync(room.RoomId, ct);
        return JsonResults.Node(new JsonObject { ["visibility"] = published ? "public" : "private" });
    }

    /// <summary>
    /// PUT /_matrix/client/v3/directory/list/room/{roomId} — publish or unpublish a room; needs the power to change its
    /// canonical alias (as Synapse), or server admin.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3directorylistroomroomid
    /// </summary>
    private static async Task<IResult> PutVisibility(HttpContext http, Authed auth, RoomService rooms, RoomDirectory directory, RoomAliases aliases, string roomId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        var visibility = body.OptionalString("visibility") ?? "public";
        if (visibility is not ("public" or "private"))
        {
            throw MatrixException.InvalidParam("visibility must be 'public' or 'private'");
        }

        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        if (!auth.Requester.IsAdmin && !await aliases.MayChangeAliasesAsync(room, auth.UserId, ct))
        {
            throw MatrixException.Forbidden("You don't have permission to change the room's visibility in the directory");
        }

        await directory.SetPublishedAsync(room.RoomId, visibility == "public", ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// GET /_matrix/client/v3/publicRooms — the public room directory of this or another server. Needs an access token
    /// unless allow_public_rooms_without_auth.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3publicrooms
    /// </summary>
    private static async Task<IResult> GetPublicRooms(HttpContext http, HomeserverConfig config, PublicRoomList list, CancellationToken ct)
    {
        if (!config.AllowPublicRoomsWithoutAuth || Authed.ReadToken(http.Request) is not null)
        {
            await Authed.BindAsync(http);
        }

        var query = http.Request.Query;
        int? limit = null;
        if (query["limit"].ToString() is { Length: > 0 } l)
        {
            limit = int.TryParse(l, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n : throw MatrixException.InvalidParam("limit must be an integer");
        }

        var since = query["since"].ToString();
        var server = query["server"].ToString();
        var instance = query["third_party_instance_id"].ToString();
        var request = new PublicRoomsQuery(limit, since.Length == 0 ? null : since, null, null, query["include_all_networks"].ToString() == "true",
            instance.Length == 0 ? null : instance);
        return JsonResults.Node(await list.QueryAsync(server.Length == 0 ? null : server, request, ct));
    }

    /// <summary>
    /// POST /_matrix/client/v3/publicRooms — the public room directory with a filter (search term, room types).
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3publicrooms
    /// </summary>
    private static async Task<IResult> PostPublicRooms(HttpContext http, Authed auth, PublicRoomList list, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        var server = http.Request.Query["server"].ToString();
        var request = PublicRoomsQuery.FromBody(body);
        return JsonResults.Node(await list.QueryAsync(server.Length == 0 ? null : server, request, ct));
    }
}
