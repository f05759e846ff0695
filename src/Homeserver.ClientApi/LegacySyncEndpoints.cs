using System.Globalization;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Http;
using Homeserver.Sync.Legacy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>The deprecated event stream and initial sync (client-server API r0, still served by Synapse and used by SyTest).</summary>
public static class LegacySyncEndpoints
{
    /// <summary>The event stream's default long-poll, as Synapse.</summary>
    public static readonly TimeSpan DefaultEventsTimeout = TimeSpan.FromSeconds(30);

    public static IEndpointRouteBuilder MapLegacySyncEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapGet("/events", GetEvents);
        v3.MapGet("/events/{eventId}", GetEvent);
        v3.MapGet("/initialSync", InitialSync);
        v3.MapGet("/rooms/{roomId}/initialSync", RoomInitialSync);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/v3/events — events after <c>from</c> (now when absent), long-polling up to <c>timeout</c> (deprecated).
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3events
    /// </summary>
    private static async Task<IResult> GetEvents(HttpContext http, Authed auth, LegacySyncService legacy, CancellationToken ct)
    {
        var query = http.Request.Query;
        SyncToken? from = null;
        if (query["from"].ToString() is { Length: > 0 } fromText)
        {
            from = SyncToken.TryParse(fromText, out var token) ? token : throw MatrixException.InvalidParam("Invalid 'from' token");
        }

        var timeout = SyncEndpoints.ParseTimeout(query["timeout"].ToString(), DefaultEventsTimeout);
        string? roomId = null;
        if (query["room_id"].ToString() is { Length: > 0 } r)
        {
            roomId = MatrixId.IsValidRoomId(r) ? r : throw MatrixException.InvalidParam("Invalid room ID");
        }

        return JsonResults.Raw(await legacy.EventsAsync(auth.Requester, from, timeout, roomId, ct));
    }

    /// <summary>
    /// GET /_matrix/client/v3/events/{eventId} — one event by ID (deprecated).
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3eventseventid
    /// </summary>
    private static async Task<IResult> GetEvent(Authed auth, LegacySyncService legacy, string eventId, CancellationToken ct)
    {
        var id = RouteValues.Decode(eventId);
        if (!MatrixId.IsValidEventId(id))
        {
            throw MatrixException.NotFound("Event not found");
        }

        return JsonResults.Raw(await legacy.GetEventAsync(auth.Requester, id, ct));
    }

    /// <summary>
    /// GET /_matrix/client/v3/initialSync — every room with its latest messages and state (deprecated).
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3initialsync
    /// </summary>
    private static async Task<IResult> InitialSync(HttpContext http, Authed auth, LegacySyncService legacy, CancellationToken ct)
    {
        var query = http.Request.Query;
        var archived = query["archived"].ToString() switch
        {
            "" or "false" => false,
            "true" => true,
            _ => throw MatrixException.InvalidParam("archived must be true or false"),
        };
        return JsonResults.Raw(await legacy.InitialSyncAsync(auth.Requester, ParseLimit(query["limit"].ToString()), archived, ct));
    }

    /// <summary>
    /// GET /_matrix/client/v3/rooms/{roomId}/initialSync — one room's latest messages, state, presence and receipts (deprecated).
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidinitialsync
    /// </summary>
    private static async Task<IResult> RoomInitialSync(HttpContext http, Authed auth, LegacySyncService legacy, string roomId, CancellationToken ct)
    {
        var id = RouteValues.Decode(roomId);
        if (!MatrixId.IsValidRoomId(id))
        {
            throw MatrixException.InvalidParam("Invalid room ID");
        }

        return JsonResults.Raw(await legacy.RoomInitialSyncAsync(auth.Requester, id, ParseLimit(http.Request.Query["limit"].ToString()), ct));
    }

    private static int ParseLimit(string text)
    {
        if (text.Length == 0)
        {
            return 10;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit)
            ? Math.Min(limit, RoomReadEndpoints.MaxPageSize)
            : throw MatrixException.InvalidParam("limit must be a non-negative integer");
    }
}
