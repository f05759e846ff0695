using System.Text.Json;
using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Sync.Receipts;
using Homeserver.Sync.Typing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Typing notifications, receipts and read markers (client-server API, "Typing Notifications", "Receipts", "Read markers").</summary>
public static class EphemeralEndpoints
{
    public static IEndpointRouteBuilder MapEphemeralEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapPut("/rooms/{roomId}/typing/{userId}", SetTyping);
        v3.MapPost("/rooms/{roomId}/receipt/{receiptType}/{eventId}", SendReceipt);
        v3.MapPost("/rooms/{roomId}/read_markers", SetReadMarkers);
        return app;
    }

    /// <summary>
    /// PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId} — start (for <c>timeout</c> ms) or stop typing.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidtypinguserid
    /// </summary>
    private static async Task<IResult> SetTyping(HttpContext http, Authed auth, TypingService typing, string roomId, string userId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var isTyping = body.OptionalBool("typing") ?? throw MatrixException.MissingParam("Missing 'typing'");
        var timeoutMs = body.OptionalInt("timeout");
        var timeout = timeoutMs is { } ms ? TimeSpan.FromMilliseconds(Math.Clamp(ms, 0, (long)TypingService.MaxTimeout.TotalMilliseconds)) : TypingService.DefaultTimeout;
        var room = RequireRoomId(roomId);
        var user = RouteValues.Decode(userId);
        if (!MatrixId.IsValidUserId(user))
        {
            throw MatrixException.InvalidParam("Invalid user ID");
        }

        await typing.SetTypingAsync(auth.Requester, room, user, isTyping, timeout, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId} — set a read receipt (or the fully-read marker).
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidreceiptreceipttypeeventid
    /// </summary>
    private static async Task<IResult> SendReceipt(HttpContext http, Authed auth, ReceiptService receipts, string roomId, string receiptType, string eventId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        string? threadId = null;
        if (body.TryGetProperty("thread_id", out var t))
        {
            threadId = t.ValueKind == JsonValueKind.String ? t.GetString() : throw MatrixException.InvalidParam("thread_id field must be a non-empty string");
        }

        await receipts.SendReceiptAsync(auth.Requester, RequireRoomId(roomId), RouteValues.Decode(receiptType), RouteValues.Decode(eventId), threadId, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/rooms/{roomId}/read_markers — set the fully-read marker and optionally the read receipts.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidread_markers
    /// </summary>
    private static async Task<IResult> SetReadMarkers(HttpContext http, Authed auth, ReceiptService receipts, string roomId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        await receipts.SetReadMarkersAsync(
            auth.Requester,
            RequireRoomId(roomId),
            body.OptionalString(ReceiptTypes.FullyRead),
            body.OptionalString(ReceiptTypes.Read),
            body.OptionalString(ReceiptTypes.ReadPrivate),
            ct);
        return JsonResults.Empty();
    }

    private static string RequireRoomId(string roomId)
    {
        var decoded = RouteValues.Decode(roomId);
        return MatrixId.IsValidRoomId(decoded) ? decoded : throw MatrixException.InvalidParam("Invalid room ID");
    }
}
