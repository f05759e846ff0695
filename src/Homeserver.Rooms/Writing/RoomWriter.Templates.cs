using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Writing;

public sealed partial class RoomWriter
{
    /// <summary>
    /// An event template for another server to complete, sign and send back (make_join, make_leave, make_knock):
    /// built on the current forward extremities and state, after checking that such an event would be allowed now.
    /// </summary>
    public async Task<JsonObject> BuildTemplateAsync(RoomRecord room, EventDraft draft, string origin, CancellationToken ct)
    {
        var head = await GetHeadAsync(room, ct);
        var state = new Dictionary<StateKey, string>(head.State);
        var extremities = head.ForwardExtremities.ToList();
        var trial = await BuildAndCheckAsync(room.Version, room.RoomId, draft, state, extremities, [], ct);
        var referenced = await GetEventsAsync([.. trial.PrevEventIds, .. trial.AuthEventIds], ct);
        var template = factory.BuildTemplate(
            room.Version, room.RoomId, draft, trial.PrevEventIds, trial.AuthEventIds, trial.Depth, trial.OriginServerTs, id => referenced.GetValueOrDefault(id));
        if (!room.Version.ImplicitRoomCreator)
        {
            template["origin"] = origin;
        }

        return template;
    }

    /// <summary>
    /// Sends a local event that another server must approve first (an invite of one of its users): the event is built
    /// and checked on the room's queue, <paramref name="approve"/> returns it signed by the other server, and that
    /// version is stored. Nothing is stored if approval fails.
    /// </summary>
    public Task<SendResult> SendWithApprovalAsync(RoomRecord room, EventDraft draft, Func<Pdu, Task<Pdu>> approve, CancellationToken ct)
    {
        CheckContent(room.Version, [draft]);
        return RunOnQueueAsync(room, async head =>
        {
            var state = new Dictionary<StateKey, string>(head.State);
            var extremities = head.ForwardExtremities.ToList();
            var built = await BuildAndCheckAsync(room.Version, room.RoomId, draft, state, extremities, [], ct);
            var approved = await approve(built);
            if (approved.EventId != built.EventId)
            {
                throw new MatrixException(MatrixErrorCode.Unknown, 502, "The other server changed the event it was asked to sign");
            }

            var batch = new PersistBatch(
                [new EventToPersist(approved, new StateBefore.Existing(head.SnapshotId))],
                head.ForwardExtremities.Select(e => e.EventId).ToList(),
                [approved.EventId],
                CurrentStateIsStateAfterLastEvent: true);
            using var reservation = streams.Reserve();
            var result = await store.PersistAsync(head, batch, reservation.First, ct);
            Announce(room, new PersistedEvent(approved, result.StreamOrderings[0], false), result.Head, reservation);
            return (result.Head, new SendResult(approved.EventId, result.StreamOrderings[0], approved));
        }, ct);
    }
}
