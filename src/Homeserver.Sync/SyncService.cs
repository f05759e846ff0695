using Homeserver.Rooms.Services;
using System.Buffers;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.Persistence;
using Homeserver.Sync.Presence;
using Homeserver.Sync.Rooms;

namespace Homeserver.Sync;

/// <summary>One <c>/sync</c> request, parsed. <paramref name="SetPresence"/> is <c>set_presence</c> (online by default).</summary>
public sealed record SyncRequest(SyncToken? Since, TimeSpan Timeout, bool FullState, SyncFilter Filter, string SetPresence = PresenceStates.Online);

/// <summary>
/// <c>GET /sync</c> (client-server API, "Syncing"): computes what changed for a user between the
/// <c>since</c> token and the current stream position, and long-polls when nothing did.
/// Every stream is read up to one position (<see cref="StreamPositions.Current"/> taken once), so the
/// answer and its <c>next_batch</c> agree even while writes continue:
/// <list type="number">
/// <item>the user's memberships (as of that position) sort rooms into join, invite, knock and leave;</item>
/// <item>joined rooms with news since the token, newly joined and left rooms are built in one batch
/// (<see cref="SyncRoomBuilder"/>);</item>
/// <item>account data, other modules' sections (presence, to-device...) and per-room additions (typing,
/// receipts, unread counts) are added;</item>
/// <item>an incremental answer with nothing in it waits for the user's next wake-up, up to the timeout.</item>
/// </list>
/// A waiting request holds nothing but its task and a timer: cancelling the request releases both.
/// </summary>
public sealed class SyncService(
    IRoomReadStore reads,
    ISyncDataStore data,
    StreamPositions streams,
    SyncNotifier notifier,
    SyncRoomBuilder builder,
    StrippedState stripped,
    UserMemberships userMemberships,
    IgnoredUsers ignoredUsers,
    ClientEventLoader loader,
    EventLookup lookup,
    EventFactory signer,
    PresenceService presence,
    LazyMemberCache lazyCache,
    TimeProvider time,
    IEnumerable<ISyncSection> sections,
    IEnumerable<IRoomSyncSection> roomSections,
    IEphemeralPositions? ephemeral = null)
{
    private readonly ISyncSection[] _sections = sections.ToArray();
    private readonly IRoomSyncSection[] _roomSections = roomSections.ToArray();

    /// <summary>The current position of every stream, as a <c>next_batch</c> would give it.</summary>
    public SyncToken CurrentToken => new(streams.Current, ephemeral?.Current ?? 0);

    public async Task<byte[]> SyncAsync(Requester requester, SyncRequest request, CancellationToken ct)
    {
        using var syncing = await presence.UserSyncingAsync(requester, request.SetPresence, ct);
        await streams.WaitUntilReadableAsync(syncing.Position, ct);
        if (request.Since is null)
        {
            // A new sync sequence: the client remembers no lazy-loaded members.
            lazyCache.Clear(requester.UserId, requester.DeviceId);
        }

        var deadline = time.GetUtcNow() + request.Timeout;
        while (true)
        {
            var signal = notifier.GetSignal(requester.UserId);
            var upTo = CurrentToken;
            var remaining = deadline - time.GetUtcNow();
            if (request.Since == upTo && !request.FullState && remaining > TimeSpan.Zero)
            {
                // Nothing at all was written since the token was given out (every stream is behind one of its two
                // positions), so the answer would be empty: wait for news without computing it. A client that polls
                // again right after an answer, the common case, costs no database work until something happens.
                await notifier.WaitAsync(signal, remaining, time, ct);
                continue;
            }

            var (json, isEmpty) = await ComputeAsync(requester, request, upTo, ct);
            remaining = deadline - time.GetUtcNow();
            if (!isEmpty || request.Since is null || request.FullState || remaining <= TimeSpan.Zero)
            {
                return json;
            }

            await notifier.WaitAsync(signal, remaining, time, ct);
        }
    }

    private async Task<(byte[] Json, bool IsEmpty)> ComputeAsync(Requester requester, SyncRequest request, SyncToken upToToken, CancellationToken ct)
    {
        var upTo = upToToken.Stream;
        var userId = requester.UserId;
        long? since = request.Since?.Stream;
        if (since > upTo)
        {
            // A token from the future (e.g. the database was reset): nothing we hold is newer than it (as Synapse bounds it).
            since = upTo;
        }

        // Reads that do not depend on each other run at the same time: a woken long-poll answers after the longest
        // chain of round trips, not after their sum (every read is bounded by upTo, so their order does not matter).
        var ignoredTask = ignoredUsers.GetAsync(requester.UserId, ct);
        var accountDataTask = data.GetAccountDataAsync(userId, since ?? 0, upTo, ct);
        var memberships = await userMemberships.AtAsync(userId, upTo, ct);
        var filter = request.Filter with { IgnoredUsers = await ignoredTask };
        var joinedMemberships = memberships.Where(m => m.Membership == Membership.Join && filter.IncludesRoom(m.RoomId)).ToList();

        // A join since the token that finds the user already joined at the token is a profile change (a new display
        // name or avatar): the room is synced incrementally, not as newly joined with its whole state (as Synapse).
        var profileChanges = new HashSet<string>(StringComparer.Ordinal);
        if (since is { } sinceValue && !request.FullState)
        {
            foreach (var m in joinedMemberships.Where(m => m.StreamOrdering > sinceValue))
            {
                if (await userMemberships.WasJoinedAtAsync(userId, m, sinceValue, ct))
                {
                    profileChanges.Add(m.RoomId);
                }
            }
        }

        bool Changed(UserRoomMembership m) => since is null || (m.StreamOrdering > since && !profileChanges.Contains(m.RoomId));

        // Other modules' sections (presence, to-device, device lists...) and per-room additions (typing, receipts, unread
        // counts) need only the memberships: they start now, beside the rooms, and are awaited last.
        var joinedIds = joinedMemberships.Select(m => m.RoomId).ToList();
        var context = new SyncContext(requester, request.Since, upToToken, filter, request.FullState, joinedIds)
        {
            NewlyJoinedRoomIds = since is null
                ? []
                : joinedMemberships.Where(Changed).Select(m => m.RoomId).ToList(),
            NewlyLeftRoomIds = since is null
                ? []
                : memberships.Where(m => m.Membership is Membership.Leave or Membership.Ban && Changed(m) && filter.IncludesRoom(m.RoomId)).Select(m => m.RoomId).ToList(),
        };
        var sectionsTask = Task.WhenAll(_sections.Select(section => section.ComputeAsync(context, ct)));
        var roomSectionsTask = Task.WhenAll(_roomSections.Select(section => section.ComputeAsync(context, joinedIds, ct)));

        var joinedNids = joinedMemberships.Select(m => m.RoomNid).ToList();
        var changedSet = since is { } s && !request.FullState
            ? (await reads.GetRoomsWithEventsAsync(joinedNids, s, upTo, ct)).ToHashSet()
            : [];

        var accountData = await accountDataTask;
        var roomAccountData = accountData.Where(a => a.RoomId.Length > 0 && filter.RoomAccountData.MatchesType(a.Type) && filter.RoomAccountData.IncludesRoom(a.RoomId))
            .GroupBy(a => a.RoomId)
            .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);

        var work = new List<RoomWork>();
        var invites = new List<(string RoomId, List<JsonElement> State)>();
        var knocks = new List<(string RoomId, List<JsonElement> State)>();
        foreach (var m in memberships)
        {
            if (!filter.IncludesRoom(m.RoomId))
            {
                continue;
            }

            var membershipChanged = Changed(m);
            switch (m.Membership)
            {
                case Membership.Join:
                {
                    var fresh = since is null || request.FullState || membershipChanged;
                    if (fresh || changedSet.Contains(m.RoomNid) || roomAccountData.ContainsKey(m.RoomId))
                    {
                        // A newly joined room is sent like on an initial sync: latest events, full state.
                        var timelineAfter = membershipChanged ? 0 : since!.Value;
                        work.Add(new RoomWork(m, Joined: true, timelineAfter, upTo, fresh ? null : since, NewlyJoined: membershipChanged)
                        {
                            JoinedSinceToken = since is not null && membershipChanged,
                        });
                    }

                    break;
                }

                case Membership.Invite when membershipChanged:
                {
                    // Invites from ignored users are never sent (the membership event is the last of the stripped state).
                    var state = await stripped.BuildAsync(m, ct);
                    if (state.Count == 0 || !filter.IgnoredUsers.Contains(state[^1].GetProperty("sender").GetString()!))
                    {
                        invites.Add((m.RoomId, state));
                    }

                    break;
                }

                case Membership.Knock when membershipChanged:
                    knocks.Add((m.RoomId, await stripped.BuildAsync(m, ct)));
                    break;

                case Membership.Leave or Membership.Ban when (since is not null && membershipChanged) || (since is null && filter.IncludeLeave):
                {
                    var wasJoined = await userMemberships.WasJoinedBeforeAsync(m, since, ct);
                    var leaveAt = Math.Min(upTo, m.StreamOrdering);
                    work.Add(wasJoined is null
                        ? new RoomWork(m, Joined: false, 0, leaveAt, null, NewlyJoined: false, OnlyMembershipEvent: true)
                        : new RoomWork(m, Joined: false, since ?? 0, leaveAt, wasJoined.Value && since is not null ? since : null, NewlyJoined: false));
                    break;
                }
            }
        }

        var built = await builder.BuildAsync(requester, work, filter, ct);
        var joined = new List<RoomResult>();
        var left = new List<RoomResult>();
        for (var i = 0; i < work.Count; i++)
        {
            var room = built[i];
            room.AccountData.AddRange(roomAccountData.GetValueOrDefault(room.RoomId) ?? []);
            if (work[i].Joined)
            {
                if (room.HasContent || since is null || request.FullState || work[i].NewlyJoined)
                {
                    joined.Add(room);
                }
            }
            else
            {
                left.Add(room);
            }
        }

        var globalAccountData = accountData.Where(a => a.RoomId.Length == 0 && filter.AccountData.MatchesType(a.Type)).ToList();

        // The rooms' events get their bundled aggregations while the sections finish (rooms that only sections add carry no events).
        var options = new ClientEventOptions(requester.UserId, requester.DeviceId, time.GetUtcNow().ToUnixTimeMilliseconds(), IncludeRoomId: false);
        var eventsTask = EventWriter.CreateAsync(loader, lookup, signer, joined.Concat(left).SelectMany(r => r.Timeline.Concat(r.State)).ToList(), options, filter, ct);

        var contributions = (await sectionsTask).ToList();
        var roomContributions = new Dictionary<string, List<IRoomSyncContribution>>(StringComparer.Ordinal);
        foreach (var sectionResult in await roomSectionsTask)
        {
            foreach (var (roomId, contribution) in sectionResult)
            {
                if (!roomContributions.TryGetValue(roomId, out var list))
                {
                    roomContributions[roomId] = list = [];
                }

                list.Add(contribution);
            }
        }

        var joinedSet = joined.Select(r => r.RoomId).ToHashSet(StringComparer.Ordinal);
        foreach (var (roomId, list) in roomContributions)
        {
            if (list.Any(c => c.HasContent) && joinedSet.Add(roomId))
            {
                // Only ephemeral news for this room (e.g. someone is typing): an entry with an empty timeline.
                joined.Add(new RoomResult(roomId) { PrevBatch = new PaginationToken(null, upTo).ToString() });
            }
        }

        var isEmpty = joined.Count == 0 && left.Count == 0 && invites.Count == 0 && knocks.Count == 0 && globalAccountData.Count == 0
            && !contributions.Any(c => c.HasContent);
        if (!isEmpty)
        {
            builder.MarkSent(requester, joined.Concat(left));
        }

        var json = WriteAnswer(upToToken, await eventsTask, contributions, globalAccountData, joined, invites, knocks, left, roomContributions);
        return (json, isEmpty);
    }

    private static byte[] WriteAnswer(
        SyncToken upToToken,
        EventWriter events,
        List<ISyncContribution> contributions,
        List<AccountDataEntry> globalAccountData,
        List<RoomResult> joined,
        List<(string RoomId, List<JsonElement> State)> invites,
        List<(string RoomId, List<JsonElement> State)> knocks,
        List<RoomResult> left,
        Dictionary<string, List<IRoomSyncContribution>> roomContributions)
    {
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("next_batch"u8, upToToken.ToString());
            foreach (var contribution in contributions)
            {
                contribution.Write(w);
            }

            w.WritePropertyName("account_data"u8);
            SyncResponseWriter.WriteAccountData(w, globalAccountData);

            w.WritePropertyName("rooms"u8);
            w.WriteStartObject();
            w.WritePropertyName("join"u8);
            w.WriteStartObject();
            foreach (var room in joined)
            {
                w.WritePropertyName(room.RoomId);
                SyncResponseWriter.WriteRoom(w, room, events, joinedRoom: true, roomContributions.GetValueOrDefault(room.RoomId));
            }

            w.WriteEndObject();
            w.WritePropertyName("invite"u8);
            w.WriteStartObject();
            foreach (var (roomId, state) in invites)
            {
                SyncResponseWriter.WriteStrippedRoom(w, roomId, "invite_state"u8, state);
            }

            w.WriteEndObject();
            w.WritePropertyName("knock"u8);
            w.WriteStartObject();
            foreach (var (roomId, state) in knocks)
            {
                SyncResponseWriter.WriteStrippedRoom(w, roomId, "knock_state"u8, state);
            }

            w.WriteEndObject();
            w.WritePropertyName("leave"u8);
            w.WriteStartObject();
            foreach (var room in left)
            {
                w.WritePropertyName(room.RoomId);
                SyncResponseWriter.WriteRoom(w, room, events, joinedRoom: false, null);
            }

            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
