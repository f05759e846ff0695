using Homeserver.Rooms.Services;
using System.Collections.Immutable;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Sync.Presence;
using Homeserver.Sync.Rooms;

namespace Homeserver.Sync.SlidingSync;

/// <summary>
/// Simplified sliding sync (MSC4186) at <c>POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync</c>.
/// One request:
/// <list type="number">
/// <item>takes the connection's state at <c>pos</c> (<c>M_UNKNOWN_POS</c> when the server forgot it);</item>
/// <item>computes every list (filters, recency order, ranges, <c>count</c>) and adds the subscribed rooms the user
/// may see; a room matching several rules gets the superset of their configs;</item>
/// <item>sends the rooms that are new to the connection, changed since it last sent them, or asked for more
/// (timeline limit or required state grew) — see <see cref="SlidingRoomBuilder"/>;</item>
/// <item>runs the enabled extensions over the rooms they cover;</item>
/// <item>with a <c>pos</c> and nothing to say, waits for the user's next wake-up, up to <c>timeout</c>;</item>
/// <item>records the new state and answers with a new <c>pos</c>.</item>
/// </list>
/// </summary>
public sealed class SlidingSyncService(
    UserMemberships memberships,
    IgnoredUsers ignoredUsers,
    SlidingRoomLists roomLists,
    SlidingRoomBuilder roomBuilder,
    SlidingSyncConnections connections,
    SlidingSyncWriter writer,
    StreamPositions streams,
    SyncNotifier notifier,
    PresenceService presence,
    TimeProvider time,
    IEnumerable<ISlidingSyncExtension> extensions,
    IEphemeralPositions? ephemeral = null)
{
    public const string UnstableFeature = "org.matrix.simplified_msc3575";

    private readonly IReadOnlyDictionary<string, ISlidingSyncExtension> _extensions =
        extensions.GroupBy(e => e.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);

    /// <summary>The outcome of one computation, before it is recorded and written.</summary>
    public sealed record Outcome(
        IReadOnlyDictionary<string, int> ListCounts,
        IReadOnlyList<SlidingRoomResult> Rooms,
        IReadOnlyList<(string Name, SlidingExtensionResult Result)> Extensions,
        ConnectionState NewState)
    {
        public bool HasContent => Rooms.Count > 0 || Extensions.Any(e => e.Result.HasContent);
    }

    public async Task<byte[]> SyncAsync(Requester requester, SlidingSyncRequest request, CancellationToken ct)
    {
        using var syncing = await presence.UserSyncingAsync(requester, request.SetPresence, ct);
        await streams.WaitUntilReadableAsync(syncing.Position, ct);
        var previous = connections.Begin(requester, request.ConnId, request.Pos?.Connection);
        var deadline = time.GetUtcNow() + request.Timeout;
        while (true)
        {
            var signal = notifier.GetSignal(requester.UserId);
            var upTo = new SyncToken(streams.Current, ephemeral?.Current ?? 0);
            var since = request.Pos?.Token is { } p && p.Stream > upTo.Stream ? p with { Stream = upTo.Stream } : request.Pos?.Token;
            var outcome = await ComputeAsync(requester, request, previous, since, upTo, ct);
            var remaining = deadline - time.GetUtcNow();
            if (outcome.HasContent || request.Pos is null || remaining <= TimeSpan.Zero)
            {
                var position = connections.Commit(requester, request.ConnId, request.Pos?.Connection, outcome.NewState);
                return await writer.WriteAsync(requester, new SlidingPosition(position, upTo), outcome, ct);
            }

            await notifier.WaitAsync(signal, remaining, time, ct);
        }
    }

    private async Task<Outcome> ComputeAsync(
        Requester requester, SlidingSyncRequest request, ConnectionState previous, SyncToken? since, SyncToken upTo, CancellationToken ct)
    {
        var userId = requester.UserId;
        var all = await memberships.AtAsync(userId, upTo.Stream, ct);
        var ignored = await ignoredUsers.GetAsync(userId, ct);
        var candidates = await roomLists.GetCandidatesAsync(userId, all, previous, upTo.Stream, SlidingRoomLists.NeedsState(request.Lists.Values), ignored, ct);
        var byId = candidates.ToDictionary(r => r.RoomId, StringComparer.Ordinal);

        // Lists: filter, order, cut to ranges; each room takes the superset of the configs that select it.
        var configs = new Dictionary<string, RoomConfig>(StringComparer.Ordinal);
        var roomListNames = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var listRooms = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var list in request.Lists.Values)
        {
            var filtered = await roomLists.FilterAsync(candidates, list.Filters, upTo.Stream, ct);
            counts[list.Name] = filtered.Count;
            var selected = new List<string>();
            for (var i = 0; i < filtered.Count; i++)
            {
                if (list.Ranges is null || list.Ranges.Any(r => i >= r.Start && i <= r.End))
                {
                    selected.Add(filtered[i].RoomId);
                }
            }

            listRooms[list.Name] = selected;
            foreach (var roomId in selected)
            {
                configs[roomId] = configs.TryGetValue(roomId, out var c) ? c.Combine(list.Config) : list.Config;
                (roomListNames.TryGetValue(roomId, out var names) ? names : roomListNames[roomId] = []).Add(list.Name);
            }
        }

        // Subscriptions: only rooms the user is in, invited to, knocked on, or shown before; others are ignored.
        var subscribed = new List<string>();
        foreach (var (roomId, config) in request.RoomSubscriptions)
        {
            if (byId.TryGetValue(roomId, out var room) && room.Membership.Membership is Membership.Join or Membership.Invite or Membership.Knock
                || (byId.ContainsKey(roomId) && previous.Rooms.ContainsKey(roomId)))
            {
                subscribed.Add(roomId);
                configs[roomId] = configs.TryGetValue(roomId, out var c) ? c.Combine(config) : config;
            }
        }

        // Rooms to send: new to the connection, changed since last sent, or asked for more.
        var toSend = new List<SlidingRoomRequest>();
        foreach (var (roomId, config) in configs)
        {
            var room = byId[roomId];
            var sent = previous.Rooms.GetValueOrDefault(roomId);
            var changed = sent is null
                || room.Recency > sent.Stream
                || room.Membership.StreamOrdering > sent.Stream
                || sent.Membership != room.Membership.Membership
                || config.TimelineLimit > sent.TimelineLimit
                || config.StateCanonical != sent.StateCanonical;
            if (changed)
            {
                // A room the user has just joined is sent from scratch (it was only stripped state, or left, before).
                var newlyJoined = sent is not null && sent.Membership != Membership.Join && room.Membership.Membership == Membership.Join;
                toSend.Add(new SlidingRoomRequest(room, config, newlyJoined ? null : sent));
            }
        }

        var (built, sentRooms) = await roomBuilder.BuildAsync(requester, toSend, since, upTo.Stream, ignored, ct);

        // A room with nothing new (e.g. it only had events from ignored users) is not sent, but counts as up to date.
        var membershipChanged = toSend.Where(r => r.Previous is { } p && p.Membership != r.Room.Membership.Membership).Select(r => r.Room.RoomId).ToHashSet(StringComparer.Ordinal);
        var results = built.Where(r => r.HasContent || membershipChanged.Contains(r.RoomId)).ToList();
        foreach (var r in results)
        {
            r.Lists.AddRange(roomListNames.GetValueOrDefault(r.RoomId) ?? []);
        }

        // Rooms in range without news are up to date as of this answer.
        var rooms = previous.Rooms.ToBuilder();
        foreach (var (roomId, config) in configs)
        {
            if (sentRooms.TryGetValue(roomId, out var s))
            {
                rooms[roomId] = s;
            }
            else if (rooms.TryGetValue(roomId, out var old))
            {
                var m = byId[roomId].Membership;
                rooms[roomId] = old with { Stream = m.Membership == Membership.Join ? upTo.Stream : Math.Min(upTo.Stream, m.StreamOrdering) };
            }
        }

        // Extensions, each over the rooms of the lists and subscriptions it names.
        var outcomes = results.ToDictionary(
            r => r.RoomId,
            r => new SlidingRoomOutcome(r.Initial, r.ExpandedTimeline, r.Timeline?.Select(e => e.EventId).ToList() ?? []),
            StringComparer.Ordinal);
        var extensionResults = new List<(string, SlidingExtensionResult)>();
        var extensionStates = previous.Extensions.ToBuilder();
        foreach (var (name, extension) in _extensions)
        {
            if (!request.IsEnabled(name))
            {
                continue;
            }

            var config = request.Extensions[name];
            var roomIds = ExtensionRooms(config, listRooms, subscribed);
            var context = new SlidingExtensionContext(requester, config, since, upTo, roomIds, outcomes, previous.Extensions.GetValueOrDefault(name));
            if (await extension.ComputeAsync(context, ct) is { } result)
            {
                extensionResults.Add((name, result));
                if (result.NewState is { } state)
                {
                    extensionStates[name] = state;
                }
            }
        }

        var newState = new ConnectionState(rooms.ToImmutable(), extensionStates.ToImmutable());
        return new Outcome(counts, results, extensionResults, newState);
    }

    /// <summary>The rooms an extension covers: of the lists in its <c>lists</c> and the subscriptions in its <c>rooms</c> (<c>*</c>, the default, for all).</summary>
    private static List<string> ExtensionRooms(JsonElement config, Dictionary<string, List<string>> listRooms, List<string> subscribed)
    {
        static List<string>? Names(JsonElement c, string field) =>
            c.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Array
                ? v.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToList()
                : null;

        var lists = Names(config, "lists") ?? ["*"];
        var rooms = Names(config, "rooms") ?? ["*"];
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, ids) in listRooms)
        {
            if (lists.Contains("*") || lists.Contains(name))
            {
                result.UnionWith(ids);
            }
        }

        result.UnionWith(subscribed.Where(id => rooms.Contains("*") || rooms.Contains(id)));
        return result.ToList();
    }
}
