using System.Collections.Immutable;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Sync.Rooms;

namespace Homeserver.Sync.SlidingSync;

/// <summary>A room to send, with its combined config and what this connection sent of it before (null: never).</summary>
public sealed record SlidingRoomRequest(SlidingRoom Room, RoomConfig Config, SentRoom? Previous);

/// <summary>
/// Builds the rooms of a sliding sync response (MSC4186 "Room results"), batched like /sync:
/// <list type="number">
/// <item>timelines of every joined or left room in one query (<see cref="SyncRoomBuilder.BuildTimelinesAsync"/>),
/// from the last position this connection sent, or the latest events when the room is new to it or its
/// timeline limit grew (<c>expanded_timeline</c>);</item>
/// <item><c>required_state</c>: the matching current state when the room is new or its required state changed,
/// else the matching changes since it was last sent; with lazy members, the memberships of the timeline's senders
/// and targets not yet sent on this connection, and every membership change of a gapless update;</item>
/// <item>name, avatar, heroes and counts when new or changed; <c>bump_stamp</c> from the last "proper" event;</item>
/// <item>stripped state for invites and knocks; nothing but their own membership event for users never joined.</item>
/// </list>
/// </summary>
public sealed class SlidingRoomBuilder(ISyncRoomStore store, IRoomReadStore reads, SyncRoomBuilder timelines, StrippedState stripped, UserMemberships memberships)
{
    /// <summary>The event types that bump a room (MSC4186 <c>bump_stamp</c>).</summary>
    public static readonly IReadOnlyList<string> BumpTypes =
        ["m.room.create", "m.room.message", "m.room.encrypted", "m.sticker", "m.call.invite", "m.poll.start", "m.beacon_info"];

    private static readonly StateKey NameKey = new("m.room.name", string.Empty);
    private static readonly StateKey AvatarKey = new("m.room.avatar", string.Empty);

    private sealed class Work(SlidingRoomRequest request, SlidingRoomResult result)
    {
        public SlidingRoomRequest Request { get; } = request;

        public SlidingRoomResult Result { get; } = result;

        public RoomTimeline? Timeline { get; set; }

        public bool NeverJoined { get; set; }

        public IReadOnlyDictionary<StateKey, string> EndState { get; set; } = new Dictionary<StateKey, string>();

        public Dictionary<StateKey, string> Delta { get; } = [];

        public List<string> StateIds { get; } = [];

        public HashSet<string> LazySent { get; } = new(StringComparer.Ordinal);

        public bool MembershipChanged { get; set; }

        public bool Fresh => Request.Previous is null || Request.Previous.StateCanonical != Request.Config.StateCanonical;
    }

    public async Task<(List<SlidingRoomResult> Results, Dictionary<string, SentRoom> Sent)> BuildAsync(
        Requester requester, IReadOnlyList<SlidingRoomRequest> rooms, SyncToken? since, long upTo, IReadOnlySet<string> ignored, CancellationToken ct)
    {
        var me = requester.UserId;
        var works = rooms.Select(r => new Work(r, new SlidingRoomResult(r.Room.RoomId, r.Room.Membership.Membership)
        {
            Initial = r.Previous is null,
            IsDm = r.Room.IsDm,
        })).ToList();

        // 1. Timelines, and stripped state for invites and knocks.
        var timelineWorks = new List<Work>();
        foreach (var w in works)
        {
            var m = w.Request.Room.Membership;
            if (m.Membership is Membership.Invite or Membership.Knock)
            {
                w.Result.StrippedState = await stripped.BuildAsync(m, ct);
                w.Result.BumpStamp = m.StreamOrdering;
                continue;
            }

            w.NeverJoined = m.Membership != Membership.Join && await memberships.WasJoinedBeforeAsync(m, null, ct) is null;
            timelineWorks.Add(w);
        }

        var roomWorks = timelineWorks.Select(w =>
        {
            var m = w.Request.Room.Membership;
            var previous = w.Request.Previous;
            var expanded = previous is not null && w.Request.Config.TimelineLimit > previous.TimelineLimit;
            w.Result.ExpandedTimeline = expanded;
            var after = previous is null || expanded ? 0 : previous.Stream;
            var end = m.Membership == Membership.Join ? upTo : Math.Min(upTo, m.StreamOrdering);
            return new RoomWork(m, m.Membership == Membership.Join, after, end, null, NewlyJoined: false, w.NeverJoined, w.Request.Config.TimelineLimit);
        }).ToList();
        var built = await timelines.BuildTimelinesAsync(requester, roomWorks, SyncFilter.Default with { IgnoredUsers = ignored }, ct);
        for (var i = 0; i < timelineWorks.Count; i++)
        {
            var w = timelineWorks[i];
            w.Timeline = built[i];
            w.Result.Timeline = built[i].Result.Timeline;
            w.Result.Limited = built[i].Result.Limited;
            w.Result.PrevBatch = built[i].Result.PrevBatch;
            w.Result.NumLive = since is { } s ? w.Result.Timeline.Count(e => e.StreamOrdering > s.Stream) : 0;
        }

        // 2. State: current at the end of each timeline, and its changes since the room was last sent.
        var incremental = timelineWorks.Where(w => !w.NeverJoined && !w.Fresh).ToList();
        var previousSnapshots = await store.GetStateSnapshotsAtAsync(incremental.Select(w => (w.Request.Room.Membership.RoomNid, w.Request.Previous!.Stream)).ToList(), ct);
        foreach (var w in timelineWorks.Where(w => !w.NeverJoined))
        {
            if (w.Timeline!.EndSnapshot is { } endSnapshot)
            {
                w.EndState = await reads.GetStateAsync(endSnapshot, ct);
            }

            if (!w.Fresh)
            {
                var before = previousSnapshots.TryGetValue(w.Request.Room.Membership.RoomNid, out var ps) ? await reads.GetStateAsync(ps, ct) : new Dictionary<StateKey, string>();
                foreach (var (key, id) in w.EndState)
                {
                    if (!before.TryGetValue(key, out var old) || old != id)
                    {
                        w.Delta[key] = id;
                        w.MembershipChanged |= key.Type == EventTypes.Member;
                    }
                }
            }

            ChooseRequiredState(w, me);
        }

        // 3. Names, heroes, counts and bump stamps.
        var joinedNids = timelineWorks.Where(w => w.Request.Room.Membership.Membership == Membership.Join).Select(w => w.Request.Room.Membership.RoomNid).ToList();
        var summaries = await store.GetMemberSummariesAsync(
            timelineWorks.Where(w => !w.NeverJoined && w.Request.Room.Membership.Membership == Membership.Join && (w.Result.Initial || w.MembershipChanged))
                .Select(w => w.Request.Room.Membership.RoomNid).ToList(),
            me, SyncRoomBuilder.HeroCount, ct);
        var bumps = await store.GetLastPositionsAsync(joinedNids, upTo, BumpTypes, ct);

        var extraIds = new List<string>();
        foreach (var w in timelineWorks.Where(w => !w.NeverJoined))
        {
            if (w.EndState.TryGetValue(NameKey, out var nameId))
            {
                extraIds.Add(nameId);
            }

            if (w.EndState.TryGetValue(AvatarKey, out var avatarId) && (w.Fresh || w.Delta.ContainsKey(AvatarKey)))
            {
                extraIds.Add(avatarId);
            }

            if (summaries.TryGetValue(w.Request.Room.Membership.RoomNid, out var summary))
            {
                w.Result.JoinedCount = summary.Joined;
                w.Result.InvitedCount = summary.Invited;
                extraIds.AddRange(summary.Heroes.Select(h => w.EndState.GetValueOrDefault(new StateKey(EventTypes.Member, h))).OfType<string>());
            }
        }

        var events = (await store.GetStoredEventsAsync(timelineWorks.SelectMany(w => w.StateIds).Concat(extraIds).Distinct(StringComparer.Ordinal).ToList(), ct))
            .ToDictionary(e => e.EventId, StringComparer.Ordinal);
        var sent = new Dictionary<string, SentRoom>(StringComparer.Ordinal);
        foreach (var w in works)
        {
            Finish(w, events, summaries, bumps, upTo);
            var m = w.Request.Room.Membership;
            var lazy = w.Request.Previous is { } prev && !w.Fresh && w.Result.Limited != true ? prev.LazyMembers.Union(w.LazySent) : w.LazySent.ToImmutableHashSet(StringComparer.Ordinal);
            sent[w.Result.RoomId] = new SentRoom(
                m.Membership == Membership.Join ? upTo : Math.Min(upTo, m.StreamOrdering), w.Request.Config.TimelineLimit, w.Request.Config.StateCanonical, lazy, m.Membership);
        }

        return (works.Select(w => w.Result).ToList(), sent);
    }

    private static void ChooseRequiredState(Work w, string me)
    {
        var config = w.Request.Config;
        var timeline = w.Result.Timeline ?? [];
        var lazyWanted = new HashSet<string>(StringComparer.Ordinal);
        if (config.LazyMembers)
        {
            foreach (var e in timeline)
            {
                lazyWanted.Add(e.Event.Sender);
                if (e.Event.Type == EventTypes.Member && e.Event.StateKey is { } target)
                {
                    lazyWanted.Add(target);
                }
            }
        }

        var chosen = new Dictionary<StateKey, string>();
        var source = w.Fresh ? w.EndState : w.Delta;
        foreach (var (key, id) in source)
        {
            if (config.Matches(key, me))
            {
                chosen[key] = id;
            }
            else if (config.LazyMembers && key.Type == EventTypes.Member && !w.Fresh && w.Result.Limited != true)
            {
                // A gapless update carries every membership change, so clients can keep their member cache.
                chosen[key] = id;
                w.LazySent.Add(key.Key);
            }
        }

        var previouslySent = w.Fresh || w.Result.Limited == true ? ImmutableHashSet<string>.Empty : w.Request.Previous!.LazyMembers;
        foreach (var user in lazyWanted)
        {
            var key = new StateKey(EventTypes.Member, user);
            if (!previouslySent.Contains(user) && w.EndState.TryGetValue(key, out var id))
            {
                chosen[key] = id;
                w.LazySent.Add(user);
            }
        }

        w.StateIds.AddRange(chosen.Values);
    }

    private static void Finish(
        Work w, Dictionary<string, StoredEvent> events, IReadOnlyDictionary<long, RoomMemberSummary> summaries, IReadOnlyDictionary<long, long> bumps, long upTo)
    {
        var r = w.Result;
        var m = w.Request.Room.Membership;
        r.RequiredState.AddRange(w.StateIds.Select(id => events.GetValueOrDefault(id)).OfType<StoredEvent>());
        if (w.Timeline is null)
        {
            return;
        }

        string? Content(StateKey key, string field) =>
            w.EndState.TryGetValue(key, out var id) && events.TryGetValue(id, out var e) && e.Event.Content.ValueKind == JsonValueKind.Object
            && e.Event.Content.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        var name = Content(NameKey, "name") is { Length: > 0 } n ? n : null;
        r.Name = w.Fresh || w.Delta.ContainsKey(NameKey) ? name : null;
        r.Avatar = Content(AvatarKey, "url") is { Length: > 0 } avatar ? avatar : null;
        if (name is null && summaries.TryGetValue(m.RoomNid, out var summary))
        {
            r.Heroes = summary.Heroes.Select(h =>
            {
                var member = w.EndState.TryGetValue(new StateKey(EventTypes.Member, h), out var id) ? events.GetValueOrDefault(id) : null;
                string? Field(string f) => member?.Event.Content is { ValueKind: JsonValueKind.Object } c && c.TryGetProperty(f, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                return new SlidingHero(h, Field("displayname"), Field("avatar_url"));
            }).ToList();
        }

        // bump_stamp: on a new room, a gap, or a non-joined room always; else only when the timeline holds a bump.
        var timelineBump = r.Timeline!.LastOrDefault(e => BumpTypes.Contains(e.Event.Type))?.StreamOrdering;
        if (m.Membership != Membership.Join)
        {
            r.BumpStamp = Math.Min(upTo, m.StreamOrdering);
        }
        else if (timelineBump is { } tb)
        {
            r.BumpStamp = tb;
        }
        else if (r.Initial || r.Limited == true)
        {
            r.BumpStamp = bumps.TryGetValue(m.RoomNid, out var b) ? b : m.StreamOrdering;
        }
    }
}
