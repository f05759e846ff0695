using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Federation;
using Homeserver.Rooms.Services;
using Homeserver.Sync.Federation;
using Homeserver.Sync.Rooms;
using Microsoft.Extensions.Logging;

namespace Homeserver.Sync.Receipts;

/// <summary>
/// <c>m.receipt</c> EDUs from other servers (server-server API, "Receipts"). Each user's receipt is checked on its
/// own: only public read receipts (<c>m.read</c>), only of the sending server's users, only of users joined to the
/// room per our current state (in a room where we have joined users), only from a server the room's server ACL allows,
/// and only on events we hold in that room.
/// What passes is stored like a local receipt (so /sync shows it and long-polls wake) without touching anyone's
/// notification counts; the rest is ignored and logged. Receipts the EDU does not list are left as they are.
/// </summary>
public sealed partial class ReceiptEduHandler(ReceiptService receipts, RoomAudience audience, ServerAcls acls, HomeserverConfig config, ILogger<ReceiptEduHandler> logger) : IEduHandler
{
    public string EduType => EphemeralEdus.Receipt;

    public async Task HandleAsync(string origin, JsonElement content, CancellationToken ct)
    {
        var parsed = EphemeralEdus.ParseReceipts(content, out var skipped);
        if (skipped > 0)
        {
            LogMalformed(origin, skipped);
        }

        foreach (var edu in parsed)
        {
            if (edu.ReceiptType != ReceiptTypes.Read)
            {
                // m.read.private never leaves its server; other types are not defined over federation.
                LogIgnored(origin, edu.UserId, edu.RoomId, "not an m.read receipt");
                continue;
            }

            var server = MatrixId.ServerOf(edu.UserId);
            if (server != origin || server == config.ServerName)
            {
                LogIgnored(origin, edu.UserId, edu.RoomId, "the user is not one of the origin's");
                continue;
            }

            if (!await acls.IsAllowedAsync(edu.RoomId, origin, ct))
            {
                LogIgnored(origin, edu.UserId, edu.RoomId, "the room's server ACL denies the origin");
                continue;
            }

            if (!(await audience.GetJoinedAsync(edu.RoomId, ct)).Contains(edu.UserId) || (await audience.GetLocalJoinedAsync(edu.RoomId, ct)).Count == 0)
            {
                LogIgnored(origin, edu.UserId, edu.RoomId, "the user is not joined to the room here");
                continue;
            }

            if (!await receipts.StoreRemoteReceiptAsync(edu, ct))
            {
                LogNotStored(origin, edu.UserId, edu.RoomId);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Ignored {Count} malformed entries of an m.receipt EDU from {Origin}")]
    private partial void LogMalformed(string origin, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ignored a receipt from {Origin} for {UserId} in {RoomId}: {Reason}")]
    private partial void LogIgnored(string origin, string userId, string roomId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "A receipt from {Origin} for {UserId} in {RoomId} was not stored: unknown events, or not later than the one we have")]
    private partial void LogNotStored(string origin, string userId, string roomId);
}
