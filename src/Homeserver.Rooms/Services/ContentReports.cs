using Homeserver.Core;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Services;

/// <summary>
/// Reporting content to the server's administrators (client-server API, "Reporting content"). An event can only be
/// reported by someone who can see it: otherwise 404, exactly as for an event that does not exist.
/// </summary>
public sealed class ContentReports(IRoomFeatureStore store, RoomService rooms, RoomReader reader, TimeProvider time)
{
    public async Task ReportEventAsync(string userId, string roomId, string eventId, string? reason, int? score, CancellationToken ct)
    {
        if (score is < -100 or > 0)
        {
            throw MatrixException.InvalidParam("Param 'score' must be an integer between 0 and -100");
        }

        const string Hidden = "Unable to report event: it does not exist or you aren't able to see it.";
        var room = MatrixId.IsValidRoomId(roomId) ? await rooms.FindRoomAsync(roomId, ct) : null;
        if (room is null)
        {
            throw MatrixException.NotFound(Hidden);
        }

        try
        {
            await reader.GetEventAsync(userId, room, eventId, ct);
        }
        catch (MatrixException e) when (e.HttpStatus == 404)
        {
            throw MatrixException.NotFound(Hidden);
        }

        await store.AddReportAsync(new ContentReport(room.RoomId, eventId, userId, Clean(reason), score, time.GetUtcNow().ToUnixTimeMilliseconds()), ct);
    }

    public async Task ReportRoomAsync(string userId, string roomId, string reason, CancellationToken ct)
    {
        var room = MatrixId.IsValidRoomId(roomId) ? await rooms.FindRoomAsync(roomId, ct) : null;
        if (room is null)
        {
            throw MatrixException.NotFound("Room does not exist");
        }

        await store.AddReportAsync(new ContentReport(room.RoomId, null, userId, Clean(reason), null, time.GetUtcNow().ToUnixTimeMilliseconds()), ct);
    }

    /// <summary>PostgreSQL text cannot hold NUL characters; a reason is free text, so they are dropped.</summary>
    private static string? Clean(string? reason) => reason?.Replace("\0", string.Empty, StringComparison.Ordinal);
}
