using System.Buffers;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Sync.Presence;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Presence (client-server API, "Presence").</summary>
public static class PresenceEndpoints
{
    public static IEndpointRouteBuilder MapPresenceEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapGet("/presence/{userId}/status", GetPresence);
        v3.MapPut("/presence/{userId}/status", SetPresence);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/v3/presence/{userId}/status — a user's presence, if they share a room with the requester.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3presenceuseridstatus
    /// </summary>
    private static async Task<IResult> GetPresence(Authed auth, PresenceService presence, string userId, CancellationToken ct)
    {
        var (state, now) = await presence.GetAsync(auth.Requester, RequireUserId(userId), ct);
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            PresenceService.WriteContent(w, state, now);
        }

        return JsonResults.Raw(buffer.WrittenSpan.ToArray());
    }

    /// <summary>
    /// PUT /_matrix/client/v3/presence/{userId}/status — set your own presence and status message.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3presenceuseridstatus
    /// </summary>
    private static async Task<IResult> SetPresence(HttpContext http, Authed auth, PresenceService presence, string userId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var state = body.OptionalString("presence") ?? throw MatrixException.MissingParam("Missing 'presence'");
        var statusMsg = body.OptionalString("status_msg");
        await presence.SetAsync(auth.Requester, RequireUserId(userId), state, statusMsg, ct);
        return JsonResults.Empty();
    }

    private static string RequireUserId(string userId)
    {
        var decoded = RouteValues.Decode(userId);
        return MatrixId.IsValidUserId(decoded) ? decoded : throw MatrixException.InvalidParam("Invalid user ID");
    }
}
