using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Http;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Relations;
using Homeserver.Rooms.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>
/// Events around and related to other events (client-server API: "Event context", "Relationships between events",
/// "Threading", "Jumping to a date").
/// </summary>
public static class RelationEndpoints
{
    public static IEndpointRouteBuilder MapRelationEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        var v1 = app.V1();
        v3.MapGet("/rooms/{roomId}/context/{eventId}", GetContext);
        v1.MapGet("/rooms/{roomId}/relations/{eventId}", (HttpContext http, Authed auth, RoomService rooms, RelationReader relations, TimeProvider time, RoomReader reader, string roomId, string eventId, CancellationToken ct) =>
            GetRelations(http, auth, rooms, relations, reader, time, roomId, eventId, null, null, ct));
        v1.MapGet("/rooms/{roomId}/relations/{eventId}/{relType}", (HttpContext http, Authed auth, RoomService rooms, RelationReader relations, TimeProvider time, RoomReader reader, string roomId, string eventId, string relType, CancellationToken ct) =>
            GetRelations(http, auth, rooms, relations, reader, time, roomId, eventId, relType, null, ct));
        v1.MapGet("/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", GetRelations);
        v1.MapGet("/rooms/{roomId}/threads", GetThreads);
        v1.MapGet("/rooms/{roomId}/timestamp_to_event", TimestampToEvent);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/v3/rooms/{roomId}/context/{eventId} — events before and after one event, and the state then.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidcontexteventid
    /// </summary>
    private static async Task<IResult> GetContext(HttpContext http, Authed auth, RoomService rooms, RoomReader reader, TimeProvider time, string roomId, string eventId, CancellationToken ct)
    {
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var limit = ReadLimit(http, 10, RoomReadEndpoints.MaxPageSize);
        var filter = RoomEventFilter.ParseQuery(http.Request.Query["filter"].ToString());
        var context = await reader.GetContextAsync(auth.UserId, room, RouteValues.Decode(eventId), limit, filter, ct);
        var batch = await reader.LoadForClientAsync([context.Event, .. context.Before, .. context.After, .. context.State], auth.UserId, ct);
        var options = RoomReadEndpoints.Options(auth, time);
        return Write(w =>
        {
            w.WritePropertyName("event"u8);
            batch.Write(w, context.Event, options);
            WriteArray(w, "events_before"u8, batch, context.Before, options);
            WriteArray(w, "events_after"u8, batch, context.After, options);
            WriteArray(w, "state"u8, batch, context.State, options);
            w.WriteString("start"u8, context.Start.ToString());
            w.WriteString("end"u8, context.End.ToString());
        });
    }

    /// <summary>
    /// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType} — the events relating to an event.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidrelationseventidreltypeeventtype
    /// </summary>
    private static async Task<IResult> GetRelations(
        HttpContext http, Authed auth, RoomService rooms, RelationReader relations, RoomReader reader, TimeProvider time,
        string roomId, string eventId, string? relType, string? eventType, CancellationToken ct)
    {
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var query = http.Request.Query;
        var dir = query["dir"].ToString();
        if (dir is not ("" or "b" or "f"))
        {
            throw MatrixException.InvalidParam("dir must be 'b' or 'f'");
        }

        var recurse = query["recurse"].ToString() switch
        {
            "" or "false" => false,
            "true" => true,
            _ => throw MatrixException.InvalidParam("recurse must be a boolean"),
        };
        var limit = ReadLimit(http, RelationReader.DefaultLimit, RelationReader.MaxLimit);
        var from = RelationReader.ParseToken(query["from"].ToString(), "from");
        var to = RelationReader.ParseToken(query["to"].ToString(), "to");
        var page = await relations.GetRelationsAsync(auth.UserId, room, RouteValues.Decode(eventId), relType is null ? null : RouteValues.Decode(relType),
            eventType is null ? null : RouteValues.Decode(eventType), from, to, dir != "f", limit, recurse, ct);
        return await WritePageAsync(reader, auth, time, page, ct);
    }

    /// <summary>
    /// GET /_matrix/client/v1/rooms/{roomId}/threads — the room's threads, most recently active first.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidthreads
    /// </summary>
    private static async Task<IResult> GetThreads(HttpContext http, Authed auth, RoomService rooms, RelationReader relations, RoomReader reader, TimeProvider time, string roomId, CancellationToken ct)
    {
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var include = http.Request.Query["include"].ToString();
        if (include is not ("" or "all" or "participated"))
        {
            throw MatrixException.InvalidParam("include must be 'all' or 'participated'");
        }

        var limit = ReadLimit(http, 50, RelationReader.MaxLimit);
        var from = RelationReader.ParseToken(http.Request.Query["from"].ToString(), "from");
        var page = await relations.GetThreadsAsync(auth.UserId, room, include == "participated", from, limit, ct);
        return await WritePageAsync(reader, auth, time, page, ct);
    }

    /// <summary>
    /// GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event — the event closest to a point in time.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidtimestamp_to_event
    /// </summary>
    private static async Task<IResult> TimestampToEvent(HttpContext http, Authed auth, RoomService rooms, RoomReader reader, string roomId, CancellationToken ct)
    {
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var query = http.Request.Query;
        var tsText = query["ts"].ToString();
        if (tsText.Length == 0)
        {
            throw MatrixException.MissingParam("Missing ts");
        }

        if (!long.TryParse(tsText, NumberStyles.None, CultureInfo.InvariantCulture, out var ts))
        {
            throw MatrixException.InvalidParam("ts must be a non-negative integer");
        }

        var dir = query["dir"].ToString();
        if (dir.Length == 0)
        {
            throw MatrixException.MissingParam("Missing dir");
        }

        if (dir is not ("f" or "b"))
        {
            throw MatrixException.InvalidParam("dir must be 'f' or 'b'");
        }

        var found = await reader.FindEventByTimestampAsync(auth.UserId, room, ts, dir == "f", ct);
        return JsonResults.Node(new System.Text.Json.Nodes.JsonObject { ["event_id"] = found.EventId, ["origin_server_ts"] = found.Event.OriginServerTs });
    }

    private static async Task<IResult> WritePageAsync(RoomReader reader, Authed auth, TimeProvider time, RelationPage page, CancellationToken ct)
    {
        var batch = await reader.LoadForClientAsync(page.Events, auth.UserId, ct);
        var options = RoomReadEndpoints.Options(auth, time);
        return Write(w =>
        {
            WriteArray(w, "chunk"u8, batch, page.Events, options);
            if (page.NextBatch is not null)
            {
                w.WriteString("next_batch"u8, page.NextBatch);
            }

            if (page.PrevBatch is not null)
            {
                w.WriteString("prev_batch"u8, page.PrevBatch);
            }

            if (page.RecursionDepth is { } depth)
            {
                w.WriteNumber("recursion_depth"u8, depth);
            }
        });
    }

    internal static int ReadLimit(HttpContext http, int defaultLimit, int max)
    {
        var text = http.Request.Query["limit"].ToString();
        if (text.Length == 0)
        {
            return defaultLimit;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit)
            ? Math.Clamp(limit, 1, max)
            : throw MatrixException.InvalidParam("limit must be a non-negative integer");
    }

    internal static void WriteArray(Utf8JsonWriter w, ReadOnlySpan<byte> name, ClientEventBatch batch, IReadOnlyList<StoredEvent> events, ClientEventOptions options)
    {
        w.WritePropertyName(name);
        w.WriteStartArray();
        foreach (var e in events)
        {
            batch.Write(w, e, options);
        }

        w.WriteEndArray();
    }

    internal static IResult Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }

        return JsonResults.Raw(buffer.WrittenSpan.ToArray());
    }
}
