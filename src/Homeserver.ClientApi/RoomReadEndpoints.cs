using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Http;
using Homeserver.Rooms;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Reading rooms: state, members, events and pagination (client-server API, "Getting events for a room").</summary>
public static class RoomReadEndpoints
{
    public const int MaxPageSize = 1000;

    public static IEndpointRouteBuilder MapRoomReadEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapGet("/rooms/{roomId}/state", GetState);
        v3.MapGet("/rooms/{roomId}/state/{eventType}", (HttpContext http, Authed auth, RoomService rooms, RoomReader reader, TimeProvider time, string roomId, string eventType, CancellationToken ct) =>
            GetStateEvent(http, auth, rooms, reader, time, roomId, eventType, string.Empty, ct));
        v3.MapGet("/rooms/{roomId}/state/{eventType}/{stateKey}", GetStateEvent);
        v3.MapGet("/rooms/{roomId}/members", GetMembers);
        v3.MapGet("/rooms/{roomId}/joined_members", GetJoinedMembers);
        v3.MapGet("/joined_rooms", GetJoinedRooms);
        v3.MapGet("/rooms/{roomId}/event/{eventId}", GetEvent);
        v3.MapGet("/rooms/{roomId}/messages", GetMessages);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/v3/rooms/{roomId}/state — the room's current state events.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidstate
    /// </summary>
    private static async Task<IResult> GetState(Authed auth, RoomService rooms, RoomReader reader, TimeProvider time, string roomId, CancellationToken ct)
    {
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var state = await reader.GetVisibleStateAsync(auth.UserId, room, ct);
        var stored = await StoredAsync(reader, state.Values, ct);
        return await WriteEventArrayAsync(reader, stored, auth, time, ct);
    }

    /// <summary>
    /// GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey} — the content of one state event, or with
    /// <c>format=event</c> the whole event in the client format.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidstateeventtypestatekey
    /// </summary>
    private static async Task<IResult> GetStateEvent(
        HttpContext http, Authed auth, RoomService rooms, RoomReader reader, TimeProvider time, string roomId, string eventType, string stateKey, CancellationToken ct)
    {
        var format = http.Request.Query["format"].ToString();
        if (format is not ("" or "content" or "event"))
        {
            throw MatrixException.InvalidParam("format must be 'content' or 'event'");
        }

        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var state = await reader.GetVisibleStateAsync(auth.UserId, room, ct);
        var key = new StateKey(RouteValues.Decode(eventType), RouteValues.Decode(stateKey));
        if (!state.TryGetValue(key, out var id))
        {
            throw MatrixException.NotFound("Event not found");
        }

        if (format == "event")
        {
            var stored = await reader.GetEventAsync(auth.UserId, room, id, ct);
            var batch = await reader.LoadForClientAsync([stored], auth.UserId, ct);
            return JsonResults.Raw(batch.ToJson(stored, Options(auth, time)));
        }

        var ev = (await rooms.GetEventsAsync([id], ct))[id];
        return JsonResults.Raw(JsonSerializer.SerializeToUtf8Bytes(ev.Content));
    }

    /// <summary>
    /// GET /_matrix/client/v3/rooms/{roomId}/members — the membership events of the room, optionally filtered.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidmembers
    /// </summary>
    private static async Task<IResult> GetMembers(HttpContext http, Authed auth, RoomService rooms, RoomReader reader, TimeProvider time, string roomId, CancellationToken ct)
    {
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var state = await reader.GetVisibleStateAsync(auth.UserId, room, ct);
        var membership = http.Request.Query["membership"].ToString();
        var notMembership = http.Request.Query["not_membership"].ToString();
        var memberIds = state.Where(kv => kv.Key.Type == EventTypes.Member).Select(kv => kv.Value).ToList();
        var stored = await StoredAsync(reader, memberIds, ct);
        var filtered = stored.Where(s =>
            (membership.Length == 0 || s.Event.Membership == membership) && (notMembership.Length == 0 || s.Event.Membership != notMembership)).ToList();
        return await WriteEventArrayAsync(reader, filtered, auth, time, ct, wrapInChunk: true);
    }

    /// <summary>
    /// GET /_matrix/client/v3/rooms/{roomId}/joined_members — joined members with their profiles.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidjoined_members
    /// </summary>
    private static async Task<IResult> GetJoinedMembers(Authed auth, RoomService rooms, RoomReader reader, string roomId, CancellationToken ct)
    {
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var state = await reader.GetVisibleStateAsync(auth.UserId, room, ct);
        var members = await rooms.GetEventsAsync(state.Where(kv => kv.Key.Type == EventTypes.Member).Select(kv => kv.Value).ToList(), ct);
        var joined = new JsonObject();
        foreach (var member in members.Values.Where(m => m.Membership == Membership.Join).OrderBy(m => m.StateKey, StringComparer.Ordinal))
        {
            // Both keys are always there, null when unset, as Synapse answers (clients and SyTest read them).
            var profile = new JsonObject
            {
                ["display_name"] = member.Content.TryGetProperty("displayname", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null,
                ["avatar_url"] = member.Content.TryGetProperty("avatar_url", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null,
            };

            joined[member.StateKey!] = profile;
        }

        return JsonResults.Node(new JsonObject { ["joined"] = joined });
    }

    /// <summary>
    /// GET /_matrix/client/v3/joined_rooms — the rooms the user is joined to.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3joined_rooms
    /// </summary>
    private static async Task<IResult> GetJoinedRooms(Authed auth, Homeserver.Rooms.Persistence.IRoomReadStore reads, CancellationToken ct)
    {
        var memberships = await reads.GetUserMembershipsAsync(auth.UserId, ct);
        var rooms = new JsonArray([.. memberships.Where(m => m.Membership == Membership.Join).Select(m => (JsonNode)JsonValue.Create(m.RoomId))]);
        return JsonResults.Node(new JsonObject { ["joined_rooms"] = rooms });
    }

    /// <summary>
    /// GET /_matrix/client/v3/rooms/{roomId}/event/{eventId} — one event, if visible to the requester.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomideventeventid
    /// </summary>
    private static async Task<IResult> GetEvent(Authed auth, RoomService rooms, RoomReader reader, TimeProvider time, string roomId, string eventId, CancellationToken ct)
    {
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var stored = await reader.GetEventAsync(auth.UserId, room, RouteValues.Decode(eventId), ct);
        var batch = await reader.LoadForClientAsync([stored], auth.UserId, ct);
        return JsonResults.Raw(batch.ToJson(stored, Options(auth, time)));
    }

    /// <summary>
    /// GET /_matrix/client/v3/rooms/{roomId}/messages — paginate the room's timeline.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidmessages
    /// </summary>
    private static async Task<IResult> GetMessages(HttpContext http, Authed auth, RoomService rooms, RoomReader reader, StreamPositions streams, TimeProvider time, string roomId, CancellationToken ct)
    {
        var room = await RoomEndpoints.RequireRoomAsync(rooms, roomId, ct);
        var query = http.Request.Query;
        var dir = query["dir"].ToString();
        if (dir is not ("b" or "f" or ""))
        {
            throw MatrixException.InvalidParam("dir must be 'b' or 'f'");
        }

        var backwards = dir != "f";
        var limit = 10;
        if (query["limit"].ToString() is { Length: > 0 } limitText)
        {
            if (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit))
            {
                throw MatrixException.InvalidParam("limit must be a non-negative integer");
            }

            limit = Math.Clamp(limit, 0, MaxPageSize);
        }

        PaginationToken from;
        var fromText = query["from"].ToString();
        if (fromText.Length == 0)
        {
            from = backwards ? new PaginationToken(null, streams.Current) : new PaginationToken(0, 0);
        }
        else if (!PaginationToken.TryParse(fromText, out from))
        {
            throw MatrixException.InvalidParam("Invalid 'from' token");
        }

        PaginationToken? to = null;
        var toText = query["to"].ToString();
        if (toText.Length > 0)
        {
            if (!PaginationToken.TryParse(toText, out var t))
            {
                throw MatrixException.InvalidParam("Invalid 'to' token");
            }

            to = t;
        }

        var filter = RoomEventFilter.ParseQuery(query["filter"].ToString());
        var (events, end) = limit == 0 ? ([], null) : await reader.PaginateAsync(auth.UserId, room, from, to, backwards, limit, ct);
        events = filter.Apply(events);
        var batch = await reader.LoadForClientAsync(events, auth.UserId, ct);
        var options = Options(auth, time);
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("start"u8, fromText.Length > 0 ? fromText : from.ToString());
            if (end is { } e)
            {
                w.WriteString("end"u8, e.ToString());
            }

            w.WritePropertyName("chunk"u8);
            w.WriteStartArray();
            foreach (var ev in events)
            {
                batch.Write(w, ev, options);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return JsonResults.Raw(buffer.WrittenSpan.ToArray());
    }

    internal static ClientEventOptions Options(Authed auth, TimeProvider time) =>
        new(auth.UserId, auth.DeviceId, time.GetUtcNow().ToUnixTimeMilliseconds());

    private static async Task<IReadOnlyList<Homeserver.Rooms.Persistence.StoredEvent>> StoredAsync(RoomReader reader, IEnumerable<string> ids, CancellationToken ct) =>
        await reader.GetStoredAsync(ids.ToList(), ct);

    private static async Task<IResult> WriteEventArrayAsync(
        RoomReader reader, IReadOnlyList<Homeserver.Rooms.Persistence.StoredEvent> events, Authed auth, TimeProvider time, CancellationToken ct, bool wrapInChunk = false)
    {
        var batch = await reader.LoadForClientAsync(events, ct);
        var options = Options(auth, time);
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer))
        {
            if (wrapInChunk)
            {
                w.WriteStartObject();
                w.WritePropertyName("chunk"u8);
            }

            w.WriteStartArray();
            foreach (var ev in events)
            {
                batch.Write(w, ev, options);
            }

            w.WriteEndArray();
            if (wrapInChunk)
            {
                w.WriteEndObject();
            }
        }

        return JsonResults.Raw(buffer.WrittenSpan.ToArray());
    }
}
