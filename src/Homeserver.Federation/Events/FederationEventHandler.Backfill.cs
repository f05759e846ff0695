using Homeserver.Core;
using Homeserver.Federation.Client;
using Homeserver.Http;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation.Events;

public sealed partial class FederationEventHandler
{
    /// <summary>
    /// Outbound backfill from one server (server-server API, "Backfilling and retrieving missing events"): asks
    /// <paramref name="origin"/>'s <c>/backfill</c> for up to <paramref name="limit"/> events from
    /// <paramref name="extremities"/> backwards, verifies each (format, signatures, hashes, room), and stores them
    /// oldest first as backfilled history, each checked against its auth events and the state before it. The state
    /// after a prev event that neither we nor the answer hold is fetched from <paramref name="origin"/>, as for
    /// <c>get_missing_events</c>. Returns how many events joined the timeline.
    /// </summary>
    public async Task<int> BackfillFromAsync(string origin, RoomRecord room, IReadOnlyList<string> extremities, int limit, CancellationToken ct)
    {
        var query = string.Join("&", extremities.Select(id => "v=" + Uri.EscapeDataString(id))) + "&limit=" + limit;
        var answer = await client.GetAsync(origin, $"/_matrix/federation/v1/backfill/{Uri.EscapeDataString(room.RoomId)}?{query}", ct, TimeSpan.FromSeconds(20));
        var pdus = await VerifyAllAsync(room, answer, "pdus", ct);
        var added = 0;
        foreach (var pdu in pdus.DistinctBy(p => p.EventId).OrderBy(p => p.Depth).ThenBy(p => p.EventId, StringComparer.Ordinal).Take(limit))
        {
            try
            {
                var outcome = await writer.BackfillAsync(room, pdu, await MissingPrevStatesAsync(origin, room, pdu, ct), ct);
                if (!outcome.AlreadyKnown && outcome.RejectionReason is null)
                {
                    added++;
                }
            }
            catch (Exception e) when (e is FederationException or MatrixException)
            {
                // An event we cannot place is left out; the ones after it are judged on what we then have.
                LogBackfillEventFailed(pdu.EventId, origin, e.Message);
            }
        }

        LogBackfilled(added, pdus.Count, room.RoomId, origin);
        return added;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Backfilled {Added} of {Received} events of {RoomId} from {Origin}")]
    private partial void LogBackfilled(int added, int received, string roomId, string origin);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not place backfilled event {EventId} from {Origin}: {Reason}")]
    private partial void LogBackfillEventFailed(string eventId, string origin, string reason);
}
