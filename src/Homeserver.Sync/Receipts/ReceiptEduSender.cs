using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Federation;
using Homeserver.Sync.Federation;
using Homeserver.Sync.Rooms;
using Microsoft.Extensions.Logging;

namespace Homeserver.Sync.Receipts;

/// <summary>
/// Sends our users' public read receipts (<c>m.read</c>; never <c>m.read.private</c>) to the other servers with
/// joined members in the room, as <c>m.receipt</c> EDUs (server-server API, "Receipts"). Best effort: a failure is
/// logged and never fails the client's request, whose receipt is already stored.
/// </summary>
public sealed partial class ReceiptEduSender(RoomAudience audience, IEduSender edus, HomeserverConfig config, ILogger<ReceiptEduSender> logger) : IReceiptListener
{
    public async Task OnReceiptAsync(Receipt receipt, long eventStreamOrdering, CancellationToken ct)
    {
        if (receipt.ReceiptType != ReceiptTypes.Read || MatrixId.ServerOf(receipt.UserId) != config.ServerName)
        {
            return;
        }

        try
        {
            var servers = await audience.GetRemoteServersAsync(receipt.RoomId, ct);
            if (servers.Count > 0)
            {
                edus.Send(servers, EphemeralEdus.Receipt, EphemeralEdus.BuildReceipt(receipt));
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogSendFailed(e, receipt.RoomId);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not send a read receipt in {RoomId} to other servers")]
    private partial void LogSendFailed(Exception e, string roomId);
}
