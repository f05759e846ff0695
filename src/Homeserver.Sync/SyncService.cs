using System.Buffers;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Sync;

/// <summary>One <c>/sync</c> request, parsed.</summary>
public sealed record SyncRequest(SyncToken? Since, TimeSpan Timeout, bool FullState, SyncFilter Filter);

/// <summary>
/// <c>GET /sync</c> (client-server API, "Syncing"): computes what changed for a user between the
/// <c>since</c> token and the current stream position, and long-polls when nothing did.
/// Every stream is read up to one position (<see cref="StreamPositions.Current"/> taken once), so the
/// answer and its <c>next_batch</c> agree even while writes continue.
/// </summary>
public sealed class SyncService(
    IRoomReadStore reads,
    ISyncDataStore data,
    StreamPositions streams,
    SyncNotifier notifier,
    HistoryVisibility visibility,
    ClientEventLoader loader,
    EventLookup lookup,
    TimeProvider time,
    IEnumerable<ISyncSection> sections,
    IEnumerable<IRoomSyncSection> roomSections,
    IEphemeralPositions? ephemeral = null)
{
    private readonly ISyncSection[] _sections = sections.ToArray();
    private readonly IRoomSyncSection[] _roomSections = roomSections.ToArray();

    /// <summary>State event types copied into an invite's stripped state (as Synapse's defaults).</summary>
    private static readonly string[] StrippedStateTypes =
        ["m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar", "m.room.canonical_alias", "m.room.encryption", "m.room.topic"];

    public async Task<byte[]> SyncAsync(Requester requester, SyncRequest request, CancellationToken ct)
    {
        var deadline = time.GetUtcNow() + request.Timeout;
        while (true)
        {
            var signal = notifier.GetSignal(requester.UserId);
            var upTo = new SyncToken(streams.Current, ephemeral?.Current ?? 0);
            var (json, isEmpty) = await ComputeAsync(requester, request, upTo, ct);
            var remaining = deadline - time.GetUtcNow();
            if (!isEmpty || request.Since is null || request.FullState || remaining <= TimeSpan.Zero)
            {
                return json;
            }

            var delay = Task.Delay(remaining, time, ct);
            await Task.WhenAny(signal, delay);
            ct.ThrowIfCancellationRequested();
        }
    }

    private sealed class RoomResult(string roomId)
    {
        public string RoomId { get; } = roomId;

        public List<StoredEvent> Timeline { get; } = [];

        public List<StoredEvent> State { get; } = [];

        public bool Limited { get; set; }

        public string PrevBatch { get; set; } = string.Empty;

        public List<AccountDataEntry> AccountData { get; } = [];

        public (List<string> Heroes, int Joined, int Invited)? Summary { get; set; }

        public bool HasContent => Timeline.Count > 0 || State.Count > 0 || AccountData.Count > 0;
    }

    private async Task<(byte[] Json, bool IsEmpty)> ComputeAsync(Requester requester, SyncRequest request, SyncToken upToToken, CancellationToken ct)
    {
        var upTo = upToToken.Stream;
        var userId = requester.UserId;
        var filter = request.Filter;
        long? since = request.Since?.Stream;
        if (since > upTo)
        {
            // A token from the future (e.g. the database was reset): nothing we hold is newer than it.
            since = upTo;
        }

        var memberships = await reads.GetUserMembershipsAsync(userId, ct);
        var joined = new List<RoomResult>();
        var left = new List<RoomResult>();
        var invites = new List<(string RoomId, List<JsonElement> Stripped)>();

        var changedRooms = since is { } s
            ? await reads.GetRoomsWithEventsAsync(memberships.Where(m => m.Membership == Membership.Join).Select(m => m.RoomNid).ToList(), s, upTo, ct)
            : [];
        var changedSet = changedRooms.ToHashSet();

        var accountData = await data.GetAccountDataAsync(userId, since ?? 0, upTo, ct);
        var roomAccountData = accountData.Where(a => a.RoomId.Length > 0).GroupBy(a => a.RoomId).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);

        foreach (var m in memberships)
        {
            if (!filter.IncludesRoom(m.RoomId))
            {
                continue;
            }

            var membershipChanged = since is null || m.StreamOrdering > since;
            switch (m.Membership)
            {
                case Membership.Join:
                {
                    var wanted = since is null || request.FullState || membershipChanged || changedSet.Contains(m.RoomNid) || roomAccountData.ContainsKey(m.RoomId);
                    if (!wanted)
                    {
                        continue;
                    }

                    var room = await BuildRoomAsync(userId, m, since, membershipChanged || request.FullState, upTo, filter, ct);
                    room.AccountData.AddRange(roomAccountData.GetValueOrDefault(m.RoomId) ?? []);
                    if (room.HasContent || since is null || request.FullState)
                    {
                        joined.Add(room);
                    }

                    break;
                }

                case Membership.Invite when membershipChanged:
                    invites.Add((m.RoomId, await BuildInviteStateAsync(m, ct)));
                    break;

                case Membership.Leave or Membership.Ban when (since is not null && membershipChanged) || (since is null && filter.IncludeLeave):
                {
                    var room = await BuildRoomAsync(userId, m, since, fullState: true, Math.Min(upTo, m.StreamOrdering), filter, ct);
                    room.Summary = null;
                    left.Add(room);
                    break;
                }
            }
        }

        var globalAccountData = accountData.Where(a => a.RoomId.Length == 0 && filter.AccountData.Matches(a.Type, userId)).ToList();

        // Other modules' sections (to-device, device lists, presence...) and per-room additions (ephemeral, unread counts).
        var joinedIds = memberships.Where(m => m.Membership == Membership.Join && filter.IncludesRoom(m.RoomId)).Select(m => m.RoomId).ToList();
        var context = new SyncContext(requester, request.Since, upToToken, filter, request.FullState, joinedIds);
        var contributions = new List<ISyncContribution>(_sections.Length);
        foreach (var section in _sections)
        {
            contributions.Add(await section.ComputeAsync(context, ct));
        }

        var roomContributions = new Dictionary<string, List<IRoomSyncContribution>>(StringComparer.Ordinal);
        foreach (var section in _roomSections)
        {
            foreach (var (roomId, contribution) in await section.ComputeAsync(context, joinedIds, ct))
            {
                if (!roomContributions.TryGetValue(roomId, out var list))
                {
                    roomContributions[roomId] = list = [];
                }

                list.Add(contribution);
            }
        }

        foreach (var (roomId, list) in roomContributions)
        {
            if (list.Any(c => c.HasContent) && joined.All(r => r.RoomId != roomId))
            {
                // Only ephemeral news for this room (e.g. someone is typing): an entry with an empty timeline.
                joined.Add(new RoomResult(roomId) { PrevBatch = new PaginationToken(null, upTo).ToString() });
            }
        }

        var isEmpty = joined.Count == 0 && left.Count == 0 && invites.Count == 0 && globalAccountData.Count == 0
            && !contributions.Any(c => c.HasContent);

        var options = new ClientEventOptions(userId, requester.DeviceId, time.GetUtcNow().ToUnixTimeMilliseconds(), IncludeRoomId: false);
        var allEvents = joined.Concat(left).SelectMany(r => r.Timeline.Concat(r.State)).ToList();
        var batch = await loader.LoadAsync(allEvents, userId, ct);

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
            WriteAccountData(w, globalAccountData);

            w.WritePropertyName("rooms"u8);
            w.WriteStartObject();
            w.WritePropertyName("join"u8);
            w.WriteStartObject();
            foreach (var room in joined)
            {
                w.WritePropertyName(room.RoomId);
                WriteRoom(w, room, batch, options, joinedRoom: true, roomContributions.GetValueOrDefault(room.RoomId));
            }

            w.WriteEndObject();
            w.WritePropertyName("invite"u8);
            w.WriteStartObject();
            foreach (var (roomId, stripped) in invites)
            {
                w.WritePropertyName(roomId);
                w.WriteStartObject();
                w.WritePropertyName("invite_state"u8);
                w.WriteStartObject();
                w.WritePropertyName("events"u8);
                w.WriteStartArray();
                foreach (var e in stripped)
                {
                    e.WriteTo(w);
                }

                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WritePropertyName("leave"u8);
            w.WriteStartObject();
            foreach (var room in left)
            {
                w.WritePropertyName(room.RoomId);
                WriteRoom(w, room, batch, options, joinedRoom: false, null);
            }

            w.WriteEndObject();
            w.WritePropertyName("knock"u8);
            w.WriteStartObject();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return (buffer.WrittenSpan.ToArray(), isEmpty);
    }

    private async Task<RoomResult> BuildRoomAsync(string userId, UserRoomMembership m, long? since, bool fullState, long upTo, SyncFilter filter, CancellationToken ct)
    {
        var room = new RoomResult(m.RoomId);
        var limit = filter.TimelineLimit;
        var timelineAfter = since is { } s && !fullState ? s : 0;
        if (since is not null && fullState && m.Membership == Membership.Join && m.StreamOrdering <= since)
        {
            // full_state on an incremental sync: the timeline still starts at since.
            timelineAfter = since.Value;
        }

        var latest = limit == 0 ? [] : await reads.GetLatestEventsAsync(m.RoomNid, timelineAfter, upTo, limit + 1, ct);
        room.Limited = latest.Count > limit || (limit == 0 && timelineAfter < upTo);
        var timeline = latest.Take(limit).Reverse().ToList();
        var current = m.Membership == Membership.Join ? Membership.Join : m.Membership;
        timeline = (await visibility.FilterAsync(userId, current, timeline, ct))
            .Where(e => filter.Timeline.Matches(e.Event.Type, e.Event.Sender, e.Event.Content))
            .ToList();
        room.Timeline.AddRange(timeline);

        long? startState;
        if (latest.Count > 0)
        {
            startState = latest.Take(limit).LastOrDefault()?.StateBefore ?? (await reads.GetLastEventAtAsync(m.RoomNid, upTo, ct))?.StateAfter;
        }
        else
        {
            startState = (await reads.GetLastEventAtAsync(m.RoomNid, upTo, ct))?.StateAfter;
        }

        var oldest = latest.Take(limit).LastOrDefault();
        room.PrevBatch = new PaginationToken(null, oldest is { StreamOrdering: { } so } ? so - 1 : upTo).ToString();

        if (startState is { } start)
        {
            var stateAtStart = await reads.GetStateAsync(start, ct);
            IEnumerable<KeyValuePair<StateKey, string>> delta;
            if (since is null || fullState)
            {
                delta = stateAtStart;
            }
            else if (room.Limited)
            {
                var sinceEvent = await reads.GetLastEventAtAsync(m.RoomNid, since.Value, ct);
                var stateAtSince = sinceEvent?.StateAfter is { } ss ? await reads.GetStateAsync(ss, ct) : new Dictionary<StateKey, string>();
                delta = stateAtStart.Where(kv => !stateAtSince.TryGetValue(kv.Key, out var old) || old != kv.Value);
            }
            else
            {
                delta = [];
            }

            var timelineIds = timeline.Select(e => e.EventId).ToHashSet(StringComparer.Ordinal);
            var senders = timeline.Select(e => e.Event.Sender).Append(userId).ToHashSet(StringComparer.Ordinal);
            var stateIds = delta
                .Where(kv => !timelineIds.Contains(kv.Value))
                .Where(kv => !filter.LazyLoadMembers || kv.Key.Type != EventTypes.Member || senders.Contains(kv.Key.Key))
                .Select(kv => kv.Value)
                .ToList();
            var stored = await reads.GetStoredEventsAsync(stateIds, ct);
            room.State.AddRange(stored.Where(e => filter.State.Matches(e.Event.Type, e.Event.Sender, e.Event.Content)));

            if (m.Membership == Membership.Join && (since is null || fullState || stored.Any(e => e.Event.Type == EventTypes.Member) || timeline.Any(e => e.Event.Type == EventTypes.Member)))
            {
                room.Summary = await BuildSummaryAsync(userId, m.RoomNid, ct);
            }
        }

        return room;
    }

    private async Task<(List<string>, int, int)> BuildSummaryAsync(string userId, long roomNid, CancellationToken ct)
    {
        var members = await reads.GetMembersAsync(roomNid, ct);
        var joinedCount = members.Count(x => x.Membership == Membership.Join);
        var invitedCount = members.Count(x => x.Membership == Membership.Invite);
        var heroes = members
            .Where(x => x.UserId != userId && x.Membership is Membership.Join or Membership.Invite)
            .Select(x => x.UserId)
            .Order(StringComparer.Ordinal)
            .Take(5)
            .ToList();
        if (heroes.Count == 0)
        {
            heroes = members.Where(x => x.UserId != userId).Select(x => x.UserId).Order(StringComparer.Ordinal).Take(5).ToList();
        }

        return (heroes, joinedCount, invitedCount);
    }

    private async Task<List<JsonElement>> BuildInviteStateAsync(UserRoomMembership m, CancellationToken ct)
    {
        var result = new List<JsonElement>();
        var invite = (await reads.GetStoredEventsAsync([m.EventId], ct)).FirstOrDefault();
        if (invite is null)
        {
            return result;
        }

        // Invites from other servers carry their stripped state with them.
        if (invite.Event.Unsigned is { } unsigned && unsigned.TryGetProperty("invite_room_state", out var carried) && carried.ValueKind == JsonValueKind.Array)
        {
            result.AddRange(carried.EnumerateArray().Select(e => e.Clone()));
        }
        else if (invite.StateAfter is { } snapshot)
        {
            var entries = await reads.GetStateEntriesAsync(snapshot, StrippedStateTypes.Select(t => new StateKey(t, string.Empty)).ToList(), ct);
            foreach (var (_, pdu) in await lookup.GetEventsAsync(entries.Values, ct))
            {
                result.Add(Stripped(pdu));
            }
        }

        result.Add(Stripped(invite.Event));
        return result;
    }

    private static JsonElement Stripped(Pdu pdu)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WritePropertyName("content"u8);
            pdu.Content.WriteTo(w);
            w.WriteString("sender"u8, pdu.Sender);
            w.WriteString("state_key"u8, pdu.StateKey ?? string.Empty);
            w.WriteString("type"u8, pdu.Type);
            w.WriteEndObject();
        }

        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }

    private static void WriteRoom(
        Utf8JsonWriter w, RoomResult room, ClientEventBatch batch, ClientEventOptions options, bool joinedRoom, List<IRoomSyncContribution>? extra)
    {
        w.WriteStartObject();
        w.WritePropertyName("timeline"u8);
        w.WriteStartObject();
        w.WritePropertyName("events"u8);
        w.WriteStartArray();
        foreach (var e in room.Timeline)
        {
            batch.Write(w, e, options);
        }

        w.WriteEndArray();
        w.WriteBoolean("limited"u8, room.Limited);
        w.WriteString("prev_batch"u8, room.PrevBatch);
        w.WriteEndObject();

        w.WritePropertyName("state"u8);
        w.WriteStartObject();
        w.WritePropertyName("events"u8);
        w.WriteStartArray();
        foreach (var e in room.State)
        {
            batch.Write(w, e, options);
        }

        w.WriteEndArray();
        w.WriteEndObject();

        w.WritePropertyName("account_data"u8);
        WriteAccountData(w, room.AccountData);

        if (joinedRoom)
        {
            w.WritePropertyName("ephemeral"u8);
            w.WriteStartObject();
            w.WritePropertyName("events"u8);
            w.WriteStartArray();
            foreach (var contribution in extra ?? [])
            {
                contribution.WriteEphemeralEvents(w);
            }

            w.WriteEndArray();
            w.WriteEndObject();
            foreach (var contribution in extra ?? [])
            {
                contribution.WriteRoomProperties(w);
            }

            w.WritePropertyName("summary"u8);
            w.WriteStartObject();
            if (room.Summary is { } summary)
            {
                w.WritePropertyName("m.heroes"u8);
                w.WriteStartArray();
                foreach (var h in summary.Heroes)
                {
                    w.WriteStringValue(h);
                }

                w.WriteEndArray();
                w.WriteNumber("m.joined_member_count"u8, summary.Joined);
                w.WriteNumber("m.invited_member_count"u8, summary.Invited);
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private static void WriteAccountData(Utf8JsonWriter w, IReadOnlyList<AccountDataEntry> entries)
    {
        w.WriteStartObject();
        w.WritePropertyName("events"u8);
        w.WriteStartArray();
        foreach (var entry in entries)
        {
            w.WriteStartObject();
            w.WriteString("type"u8, entry.Type);
            w.WritePropertyName("content"u8);
            w.WriteRawValue(entry.Content, skipInputValidation: true);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }
}
