using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.E2ee;
using Homeserver.E2ee.Backup;
using Homeserver.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Server-side key backups (client-server API, "Server-side key backups").</summary>
public static class E2eeKeyBackupEndpoints
{
    public static IEndpointRouteBuilder MapE2eeKeyBackupEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapPost("/room_keys/version", CreateVersion);
        v3.MapGet("/room_keys/version", (Authed auth, KeyBackupService backup, CancellationToken ct) => GetVersion(auth, backup, null, ct));
        v3.MapGet("/room_keys/version/{version}", GetVersion);
        v3.MapPut("/room_keys/version/{version}", UpdateVersion);
        v3.MapDelete("/room_keys/version/{version}", DeleteVersion);

        v3.MapGet("/room_keys/keys", (HttpContext http, Authed auth, KeyBackupService backup, CancellationToken ct) => GetKeys(http, auth, backup, null, null, ct));
        v3.MapGet("/room_keys/keys/{roomId}", (HttpContext http, Authed auth, KeyBackupService backup, string roomId, CancellationToken ct) => GetKeys(http, auth, backup, roomId, null, ct));
        v3.MapGet("/room_keys/keys/{roomId}/{sessionId}", GetKeys);
        v3.MapPut("/room_keys/keys", (HttpContext http, Authed auth, KeyBackupService backup, CancellationToken ct) => PutKeys(http, auth, backup, null, null, ct));
        v3.MapPut("/room_keys/keys/{roomId}", (HttpContext http, Authed auth, KeyBackupService backup, string roomId, CancellationToken ct) => PutKeys(http, auth, backup, roomId, null, ct));
        v3.MapPut("/room_keys/keys/{roomId}/{sessionId}", PutKeys);
        v3.MapDelete("/room_keys/keys", (HttpContext http, Authed auth, KeyBackupService backup, CancellationToken ct) => DeleteKeys(http, auth, backup, null, null, ct));
        v3.MapDelete("/room_keys/keys/{roomId}", (HttpContext http, Authed auth, KeyBackupService backup, string roomId, CancellationToken ct) => DeleteKeys(http, auth, backup, roomId, null, ct));
        v3.MapDelete("/room_keys/keys/{roomId}/{sessionId}", DeleteKeys);
        return app;
    }

    /// <summary>
    /// POST /_matrix/client/v3/room_keys/version — create a backup version (it becomes the current one).
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3room_keysversion
    /// </summary>
    private static async Task<IResult> CreateVersion(HttpContext http, Authed auth, KeyBackupService backup, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        return JsonResults.Node(new JsonObject { ["version"] = await backup.CreateVersionAsync(auth.UserId, body, ct) });
    }

    /// <summary>
    /// GET /_matrix/client/v3/room_keys/version[/{version}] — the current (or a given) backup version with its count and etag.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3room_keysversionversion
    /// </summary>
    private static async Task<IResult> GetVersion(Authed auth, KeyBackupService backup, string? version, CancellationToken ct) =>
        JsonResults.Node(await backup.GetVersionAsync(auth.UserId, version is null ? null : RouteValues.Decode(version), ct));

    /// <summary>
    /// PUT /_matrix/client/v3/room_keys/version/{version} — replace a version's auth_data.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3room_keysversionversion
    /// </summary>
    private static async Task<IResult> UpdateVersion(HttpContext http, Authed auth, KeyBackupService backup, string version, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        await backup.UpdateVersionAsync(auth.UserId, RouteValues.Decode(version), body, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// DELETE /_matrix/client/v3/room_keys/version/{version} — delete a version and its keys.
    /// https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3room_keysversionversion
    /// </summary>
    private static async Task<IResult> DeleteVersion(Authed auth, KeyBackupService backup, string version, CancellationToken ct)
    {
        await backup.DeleteVersionAsync(auth.UserId, RouteValues.Decode(version), ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// GET /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]]?version= — read backed-up keys.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3room_keyskeys
    /// </summary>
    private static async Task<IResult> GetKeys(HttpContext http, Authed auth, KeyBackupService backup, string? roomId, string? sessionId, CancellationToken ct)
    {
        roomId = roomId is null ? null : RouteValues.Decode(roomId);
        sessionId = sessionId is null ? null : RouteValues.Decode(sessionId);
        var keys = await backup.GetKeysAsync(auth.UserId, Version(http), roomId, sessionId, ct);
        if (sessionId is not null)
        {
            return JsonResults.Node(KeyBackupService.ToJson(keys[0]));
        }

        var rooms = new JsonObject();
        foreach (var key in keys)
        {
            if (rooms[key.RoomId] is not JsonObject room)
            {
                rooms[key.RoomId] = room = new JsonObject { ["sessions"] = new JsonObject() };
            }

            room["sessions"]![key.SessionId] = KeyBackupService.ToJson(key);
        }

        if (roomId is not null)
        {
            return JsonResults.Node(rooms[roomId]?.DeepClone() ?? new JsonObject { ["sessions"] = new JsonObject() });
        }

        return JsonResults.Node(new JsonObject { ["rooms"] = rooms });
    }

    /// <summary>
    /// PUT /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]]?version= — back up keys into the current version.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3room_keyskeys
    /// </summary>
    private static async Task<IResult> PutKeys(HttpContext http, Authed auth, KeyBackupService backup, string? roomId, string? sessionId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        roomId = roomId is null ? null : RouteValues.Decode(roomId);
        sessionId = sessionId is null ? null : RouteValues.Decode(sessionId);
        var keys = new List<RoomKeyBackup>();
        if (sessionId is not null)
        {
            keys.Add(KeyBackupService.ParseKey(roomId!, sessionId, body));
        }
        else if (roomId is not null)
        {
            AddRoom(keys, roomId, body);
        }
        else
        {
            var rooms = body.OptionalObject("rooms") ?? throw MatrixException.MissingParam("Missing 'rooms'");
            foreach (var room in rooms.EnumerateObject())
            {
                AddRoom(keys, room.Name, room.Value);
            }
        }

        var counts = await backup.PutKeysAsync(auth.UserId, Version(http), keys, ct);
        return JsonResults.Node(KeyBackupService.ToJson(counts));
    }

    /// <summary>
    /// DELETE /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]]?version= — delete backed-up keys.
    /// https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3room_keyskeys
    /// </summary>
    private static async Task<IResult> DeleteKeys(HttpContext http, Authed auth, KeyBackupService backup, string? roomId, string? sessionId, CancellationToken ct)
    {
        var counts = await backup.DeleteKeysAsync(
            auth.UserId, Version(http), roomId is null ? null : RouteValues.Decode(roomId), sessionId is null ? null : RouteValues.Decode(sessionId), ct);
        return JsonResults.Node(KeyBackupService.ToJson(counts));
    }

    private static void AddRoom(List<RoomKeyBackup> keys, string roomId, JsonElement room)
    {
        if (room.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("A room's backup must be an object with 'sessions'");
        }

        var sessions = room.OptionalObject("sessions") ?? throw MatrixException.MissingParam("Missing 'sessions'");
        foreach (var session in sessions.EnumerateObject())
        {
            keys.Add(KeyBackupService.ParseKey(roomId, session.Name, session.Value));
        }
    }

    private static string? Version(HttpContext http)
    {
        var version = http.Request.Query["version"].ToString();
        return version.Length == 0 ? null : version;
    }
}
