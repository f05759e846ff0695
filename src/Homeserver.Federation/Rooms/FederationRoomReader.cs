using System.Text.Json;
using Homeserver.Core;
using Homeserver.Crypto;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;
using Homeserver.Users;

namespace Homeserver.Federation.Rooms;

/// <summary>
/// What other servers may read of our rooms: single events, the state and auth chain at an event, backfill and
/// missing events. A server may read a room's events only if one of its users is (or was invited to) the room,
/// or the room is world-readable (server-server API, "Room State Resolution" access rules as Synapse applies them).
/// </summary>
public sealed class FederationRoomReader(RoomService rooms, IRoomStore store, EventLookup lookup, IAccountStore accounts)
{
    public async Task<RoomRecord> RequireRoomAsync(string roomId, CancellationToken ct) =>
        await rooms.FindRoomAsync(roomId, ct) ?? throw MatrixException.NotFound("Unknown room");

    /// <summary>Throws 403 unless <paramref name="origin"/> may see the room.</summary>
    public async Task RequireServerInRoomAsync(RoomRecord room, string origin, CancellationToken ct)
    {
        var head = await rooms.GetHeadAsync(room, ct);
        if (head.ForwardExtremities.Count == 0)
        {
            throw MatrixException.NotFound("Unknown room");
        }

        var members = head.State.Where(kv => kv.Key.Type == EventTypes.Member && MatrixId.ServerOf(kv.Key.Key) == origin).Select(kv => kv.Value).ToList();
        if (members.Count > 0)
        {
            var events = await lookup.GetEventsAsync(members, ct);
            if (events.Values.Any(e => e.Membership is Membership.Join or Membership.Invite or Membership.Knock or Membership.Leave))
            {
                return;
            }
        }

        if (head.State.TryGetValue(new StateKey("m.room.history_visibility", string.Empty), out var hvId)
            && (await lookup.GetEventsAsync([hvId], ct)).TryGetValue(hvId, out var hv)
            && hv.Content.TryGetProperty("history_visibility", out var v) && v.ValueKind == JsonValueKind.String && v.GetString() == "world_readable")
        {
            return;
        }

        throw MatrixException.Forbidden("Your server is not in this room");
    }

    public async Task<Pdu> GetEventAsync(string eventId, CancellationToken ct)
    {
        var found = await lookup.GetEventsAsync([eventId], ct);
        return found.TryGetValue(eventId, out var pdu) ? pdu : throw MatrixException.NotFound("Event not found");
    }

    /// <summary>
    /// An event as another server may have it (<c>/event</c>, <c>/backfill</c>, <c>/get_missing_events</c>): redacted
    /// when its sender is one of our users who deactivated their account with erasure ("erase": their messages must
    /// not be handed to anyone who has not seen them yet, as Synapse's filter_events_for_server does).
    /// </summary>
    public async Task<IReadOnlyList<Pdu>> ForServerAsync(IReadOnlyList<Pdu> events, CancellationToken ct)
    {
        var erased = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sender in events.Select(e => e.Sender).Distinct(StringComparer.Ordinal))
        {
            if (await accounts.GetUserAsync(sender, ct) is { Erased: true })
            {
                erased.Add(sender);
            }
        }

        return erased.Count == 0 ? events : [.. events.Select(e => erased.Contains(e.Sender) ? e.Redacted() : e)];
    }

    /// <summary>The state before <paramref name="eventId"/> and its auth chain.</summary>
    public async Task<(IReadOnlyList<Pdu> State, IReadOnlyList<Pdu> AuthChain)> GetStateAtAsync(RoomRecord room, string eventId, CancellationToken ct)
    {
        var meta = (await store.GetEventMetaAsync([eventId], ct)).GetValueOrDefault(eventId);
        if (meta is null || meta.RoomNid != room.RoomNid || meta.StateBefore is not { } snapshot)
        {
            throw MatrixException.NotFound("Event not found or its state is unknown");
        }

        var state = await store.GetSnapshotStateAsync(snapshot, ct);
        var events = (await lookup.GetEventsAsync(state.Values.ToList(), ct)).Values.ToList();
        var chain = await AuthChain.GetAsync(lookup, events, ct);
        return (events, chain);
    }

    public async Task<IReadOnlyList<Pdu>> GetAuthChainAsync(RoomRecord room, string eventId, CancellationToken ct)
    {
        var pdu = await GetEventAsync(eventId, ct);
        if (pdu.RoomId != room.RoomId)
        {
            throw MatrixException.NotFound("Event not found");
        }

        return await AuthChain.GetAsync(lookup, [pdu], ct);
    }

    /// <summary>Events before <paramref name="from"/> (inclusive), walking prev_events breadth first, most recent first.</summary>
    public async Task<IReadOnlyList<Pdu>> BackfillAsync(RoomRecord room, IReadOnlyList<string> from, int limit, CancellationToken ct)
    {
        var result = new List<Pdu>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var queue = new PriorityQueue<Pdu, long>();
        foreach (var (_, pdu) in await lookup.GetEventsAsync(from, ct))
        {
            if (pdu.RoomId == room.RoomId && seen.Add(pdu.EventId))
            {
                queue.Enqueue(pdu, -pdu.Depth);
            }
        }

        while (result.Count < limit && queue.TryDequeue(out var next, out _))
        {
            result.Add(next);
            var prevs = next.PrevEventIds.Where(seen.Add).ToList();
            foreach (var (_, pdu) in await lookup.GetEventsAsync(prevs, ct))
            {
                queue.Enqueue(pdu, -pdu.Depth);
            }
        }

        return result;
    }

    /// <summary>
    /// <c>get_missing_events</c>: events between <paramref name="earliest"/> and <paramref name="latest"/>, walking back
    /// from latest through prev_events without passing earliest or going below <paramref name="minDepth"/>; oldest first.
    /// </summary>
    public async Task<IReadOnlyList<Pdu>> GetMissingEventsAsync(RoomRecord room, IReadOnlyList<string> earliest, IReadOnlyList<string> latest, int limit, long minDepth, CancellationToken ct)
    {
        var stop = new HashSet<string>(earliest, StringComparer.Ordinal);
        var seen = new HashSet<string>(latest, StringComparer.Ordinal);
        var result = new List<Pdu>();
        var frontier = new List<string>();
        foreach (var (_, pdu) in await lookup.GetEventsAsync(latest, ct))
        {
            if (pdu.RoomId == room.RoomId)
            {
                frontier.AddRange(pdu.PrevEventIds);
            }
        }

        while (frontier.Count > 0 && result.Count < limit)
        {
            var ids = frontier.Where(id => !stop.Contains(id) && seen.Add(id)).ToList();
            frontier = [];
            foreach (var pdu in (await lookup.GetEventsAsync(ids, ct)).Values.OrderByDescending(p => p.Depth))
            {
                if (pdu.RoomId != room.RoomId || pdu.Depth < minDepth || result.Count >= limit)
                {
                    continue;
                }

                result.Add(pdu);
                frontier.AddRange(pdu.PrevEventIds);
            }
        }

        result.Sort((a, b) => a.Depth.CompareTo(b.Depth));
        return result;
    }
}
