using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Reports, forgetting, room summaries, upgrades and the space hierarchy (client-server API modules of those names).</summary>
public static class RoomFeatureEndpoints
{
    /// <summary>Every endpoint of the room features beyond the core (aliases, directory, relations, search and these).</summary>
    public static IEndpointRouteBuilder MapRoomFeatureEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapDirectoryEndpoints();
        app.MapRelationEndpoints();
        app.MapSearchEndpoints();
        var v3 = app.V3();
        var v1 = app.V1();
        v3.MapPost("/rooms/{roomId}/report/{eventId}", ReportEvent);
        v3.MapPost("/rooms/{roomId}/report", ReportRoom);
        v3.MapPost("/rooms/{roomId}/forget", Forget);
        v3.MapPost("/rooms/{roomId}/upgrade", Upgrade);
        v1.MapGet("/rooms/{roomId}/hierarchy", GetHierarchy);
        v1.MapGet("/room_summary/{roomIdOrAlias}", GetSummary);
        var unstable = app.Unstable();
        unstable.MapGet("/im.nheko.summary/rooms/{roomIdOrAlias}/summary", GetSummary);
        unstable.MapGet("/im.nheko.summary/summary/{roomIdOrAlias}", GetSummary);
        return app;
    }

    /// <summary>
    /// POST /_matrix/client/v3/rooms/{roomId}/report/{eventId} — report an event to the server's administrators.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidreporteventid
    /// </summary>
    private static async Task<IResult> ReportEvent(HttpContext http, Authed auth, ContentReports reports, string roomId, string eventId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        string? reason = null;
        if (body.TryGetProperty("reason", out var r) && r.ValueKind != JsonValueKind.Null)
        {
            reason = r.ValueKind == JsonValueKind.String ? r.GetString() : throw MatrixException.InvalidParam("Param 'reason' must be a string");
        }

        int? score = null;
        if (body.TryGetProperty("score", out var s) && s.ValueKind != JsonValueKind.Null)
        {
            score = s.ValueKind == JsonValueKind.Number && s.TryGetInt32(out var n)
                ? n
                : throw MatrixException.InvalidParam("Param 'score' must be an integer between 0 and -100");
        }

        await reports.ReportEventAsync(auth.UserId, RouteValues.Decode(roomId), RouteValues.Decode(eventId), reason, score, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/rooms/{roomId}/report — report a room.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidreport
    /// </summary>
    private static async Task<IResult> ReportRoom(HttpContext http, Authed auth, ContentReports reports, string roomId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        await reports.ReportRoomAsync(auth.UserId, RouteValues.Decode(roomId), body.RequiredString("reason"), ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/rooms/{roomId}/forget — forget a room one has left.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidforget
    /// </summary>
    private static async Task<IResult> Forget(Authed auth, RoomService rooms, IRoomFeatureStore features, string roomId, CancellationToken ct)
    {
        var id = RouteValues.Decode(roomId);
        if (!MatrixId.IsValidRoomId(id))
        {
            throw MatrixException.InvalidParam("Invalid room ID");
        }

        await rooms.ForgetAsync(auth.Requester, id, features, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/rooms/{roomId}/upgrade — replace the room with a new one of another version.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidupgrade
    /// </summary>
    private static async Task<IResult> Upgrade(HttpContext http, Authed auth, RoomService rooms, RoomUpgrader upgrader, string roomId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var version = body.RequiredString("new_version");
        var creators = body.OptionalStringArray("additional_creators");
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var replacement = await upgrader.UpgradeAsync(auth.Requester, room, version, creators, ct);
        return JsonResults.Node(new JsonObject { ["replacement_room"] = replacement });
    }

    /// <summary>
    /// GET /_matrix/client/v1/rooms/{roomId}/hierarchy — a space's rooms, breadth first.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidhierarchy
    /// </summary>
    private static async Task<IResult> GetHierarchy(HttpContext http, Authed auth, SpaceHierarchy hierarchy, string roomId, CancellationToken ct)
    {
        var query = http.Request.Query;
        var suggested = query["suggested_only"].ToString() switch
        {
            "" or "false" => false,
            "true" => true,
            _ => throw MatrixException.InvalidParam("suggested_only must be a boolean"),
        };
        var from = query["from"].ToString();
        var result = await hierarchy.GetAsync(auth.UserId, RouteValues.Decode(roomId), suggested, ReadInt(query["max_depth"].ToString(), "max_depth"),
            ReadInt(query["limit"].ToString(), "limit"), from.Length == 0 ? null : from, ct);
        return JsonResults.Node(result);
    }

    /// <summary>
    /// GET /_matrix/client/v1/room_summary/{roomIdOrAlias} — a room's summary, for members and for rooms one could join or
    /// peek (also at MSC3266's unstable paths). The access token is optional.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1room_summaryroomidoralias
    /// </summary>
    private static async Task<IResult> GetSummary(HttpContext http, RoomService rooms, RoomDirectory directory, RoomDescriptions descriptions, string roomIdOrAlias, CancellationToken ct)
    {
        string? userId = null;
        if (Authed.ReadToken(http.Request) is not null)
        {
            userId = (await Authed.BindAsync(http))!.UserId;
        }

        var target = RouteValues.Decode(roomIdOrAlias);
        if (target.StartsWith('#'))
        {
            target = await directory.ResolveAsync(target, ct);
        }

        var room = await RoomEndpoints.RequireRoomAsync(rooms, target, ct);
        return JsonResults.Node(await descriptions.GetSummaryAsync(userId, room, ct));
    }

    private static int? ReadInt(string text, string name) =>
        text.Length == 0 ? null
        : int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n
        : throw MatrixException.InvalidParam($"{name} must be an integer");
}
