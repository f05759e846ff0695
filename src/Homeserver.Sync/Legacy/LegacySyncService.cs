using System.Buffers;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;
using Homeserver.Sync.Presence;
using Homeserver.Sync.Receipts;
using Homeserver.Sync.Rooms;
using Homeserver.Sync.Typing;

namespace Homeserver.Sync.Legacy;

/// <summary>
/// The deprecated sync APIs that Synapse still serves and SyTest still uses (client-server API r0, "old_sync"):
/// the event stream <c>GET /events</c> (room events, typing, receipts and presence after a token, long-polling),
/// <c>GET /initialSync</c> and <c>GET /rooms/{roomId}/initialSync</c>. Built on the same stores and tokens as
/// <c>/sync</c>, so their tokens interoperate with it and with <c>/messages</c>. Like /sync they leave out what
/// ignored users send (but their state events) and their invites.
/// </summary>
public sealed class LegacySyncService(
    UserMemberships memberships,
    IgnoredUsers ignoredUsers,
    SyncRoomBuilder builder,
    IRoomReadStore reads,
    ISyncDataStore data,
    IReceiptStore receipts,
    IPresenceStore presenceStore,
    PresenceService presence,
    TypingService typing,
    RoomDirectory directory,
    ClientEventLoader loader,
    HistoryVisibility visibility,
    SyncService sync,
    SyncNotifier notifier,
    StreamPositions streams,
    TimeProvider time)
{
    /// <summary>The most events one room contributes to one event-stream answer.</summary>
    public const int MaxEventsPerRoom = 100;

    /// <summary>
    /// GET /events: everything new for the user after <paramref name="from"/> (now when absent), waiting up to
    /// <paramref name="timeout"/> for something to happen. <paramref name="roomId"/> narrows it to one joined room.
    /// </summary>
    public async Task<byte[]> EventsAsync(Requester requester, SyncToken? from, TimeSpan timeout, string? roomId, CancellationToken ct)
    {
        using var syncing = await presence.UserSyncingAsync(requester, PresenceStates.Online, ct);
        await streams.WaitUntilReadableAsync(syncing.Position, ct);
        var start = from ?? sync.CurrentToken;
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            var signal = notifier.GetSignal(requester.UserId);
            var upTo = sync.CurrentToken;
            var (json, empty) = await ComputeEventsAsync(requester, start, upTo, roomId, ct);
            var remaining = deadline - time.GetUtcNow();
            if (!empty || remaining <= TimeSpan.Zero)
            {
                return json;
            }

            await notifier.WaitAsync(signal, remaining, time, ct);
        }
    }

    /// <summary>GET /initialSync: every room with its latest <paramref name="limit"/> messages and current state, presence and account data.</summary>
    public async Task<byte[]> InitialSyncAsync(Requester requester, int limit, bool archived, CancellationToken ct)
    {
        var upTo = sync.CurrentToken;
        var all = await memberships.AtAsync(requester.UserId, upTo.Stream, ct);
        var shown = all.Where(m => m.Membership is Membership.Join or Membership.Invite || (archived && m.Membership is Membership.Leave or Membership.Ban)).ToList();
        var ignored = await ignoredUsers.GetAsync(requester.UserId, ct);
        var rooms = await BuildRoomsAsync(requester, shown, upTo, limit, ignored, ct);

        // Invites from ignored users are never sent (client-server API, "Ignoring users").
        rooms.RemoveAll(r => r.Invite is { } invite && ignored.Contains(invite.Event.Sender));
        var accountData = await data.GetAccountDataAsync(requester.UserId, 0, upTo.Stream, ct);
        var joined = shown.Where(m => m.Membership == Membership.Join).Select(m => m.RoomId).ToList();
        var roomReceipts = await receipts.GetReceiptsAsync(joined, 0, upTo.Stream, requester.UserId, ct);
        var visible = new HashSet<string>(await presenceStore.GetUsersSharingRoomAsync(requester.UserId, ct), StringComparer.Ordinal) { requester.UserId };
        var states = await presence.GetCurrentAsync(visible, ct);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();

        return Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("end"u8, upTo.ToString());
            w.WritePropertyName("presence"u8);
            w.WriteStartArray();
            foreach (var p in states.Values.Where(p => p.State != PresenceStates.Offline))
            {
                WritePresence(w, p, now);
            }

            w.WriteEndArray();
            w.WritePropertyName("account_data"u8);
            w.WriteStartArray();
            foreach (var entry in accountData.Where(a => a.RoomId.Length == 0))
            {
                SyncResponseWriter.WriteAccountDataEvent(w, entry);
            }

            w.WriteEndArray();
            w.WritePropertyName("receipts"u8);
            w.WriteStartArray();
            foreach (var group in roomReceipts.GroupBy(r => r.RoomId, StringComparer.Ordinal))
            {
                ReceiptSyncSection.WriteEvent(w, group, group.Key);
            }

            w.WriteEndArray();
            w.WritePropertyName("rooms"u8);
            w.WriteStartArray();
            foreach (var room in rooms)
            {
                room.Write(w, accountData.Where(a => a.RoomId == room.Membership.RoomId));
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>GET /events/{eventId}: one event by ID, if the requester may see it (404 otherwise).</summary>
    public async Task<byte[]> GetEventAsync(Requester requester, string eventId, CancellationToken ct)
    {
        var stored = (await reads.GetStoredEventsAsync([eventId], ct)).FirstOrDefault() ?? throw MatrixException.NotFound("Event not found");
        var member = (await memberships.AtAsync(requester.UserId, sync.CurrentToken.Stream, ct)).FirstOrDefault(m => m.RoomId == stored.Event.RoomId);
        var visible = await visibility.FilterAsync(requester.UserId, member?.Membership, [stored], ct);
        if (visible.Count == 0 || (!stored.Event.IsState && (await ignoredUsers.GetAsync(requester.UserId, ct)).Contains(stored.Event.Sender)))
        {
            throw MatrixException.NotFound("Event not found");
        }

        var batch = await loader.LoadAsync(visible, requester.UserId, ct);
        return batch.ToJson(visible[0], new ClientEventOptions(requester.UserId, requester.DeviceId, time.GetUtcNow().ToUnixTimeMilliseconds()));
    }

    /// <summary>GET /rooms/{roomId}/initialSync: one room as /initialSync shows it, with its members' presence and receipts.</summary>
    public async Task<byte[]> RoomInitialSyncAsync(Requester requester, string roomId, int limit, CancellationToken ct)
    {
        var upTo = sync.CurrentToken;
        var membership = (await memberships.AtAsync(requester.UserId, upTo.Stream, ct)).FirstOrDefault(m => m.RoomId == roomId && m.Membership != Membership.Knock)
            ?? throw MatrixException.Forbidden("You are not in this room");
        var room = (await BuildRoomsAsync(requester, [membership], upTo, limit, await ignoredUsers.GetAsync(requester.UserId, ct), ct)).Single();
        var accountData = await data.GetAccountDataAsync(requester.UserId, 0, upTo.Stream, ct);
        var roomReceipts = membership.Membership == Membership.Join ? await receipts.GetReceiptsAsync([roomId], 0, upTo.Stream, requester.UserId, ct) : [];
        var members = room.State.Where(e => e.Event.Type == EventTypes.Member && e.Event.Membership == Membership.Join).Select(e => e.Event.StateKey!).ToList();
        var states = membership.Membership == Membership.Join ? await presence.GetCurrentAsync(members, ct) : new Dictionary<string, UserPresence>();
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        return Write(w => room.Write(w, accountData.Where(a => a.RoomId == roomId), extra =>
        {
            extra.WritePropertyName("presence"u8);
            extra.WriteStartArray();
            foreach (var p in states.Values)
            {
                WritePresence(extra, p, now);
            }

            extra.WriteEndArray();
            extra.WritePropertyName("receipts"u8);
            extra.WriteStartArray();
            if (roomReceipts.Count > 0)
            {
                ReceiptSyncSection.WriteEvent(extra, roomReceipts, roomId);
            }

            extra.WriteEndArray();
        }));
    }

    private async Task<(byte[] Json, bool Empty)> ComputeEventsAsync(Requester requester, SyncToken from, SyncToken upTo, string? onlyRoom, CancellationToken ct)
    {
        var userId = requester.UserId;
        var since = Math.Min(from.Stream, upTo.Stream);
        var all = await memberships.AtAsync(userId, upTo.Stream, ct);
        var rooms = all.Where(m => (m.Membership == Membership.Join || m.StreamOrdering > since) && m.Membership is not (Membership.Invite or Membership.Knock)).ToList();
        if (onlyRoom is not null)
        {
            rooms = rooms.Where(m => m.RoomId == onlyRoom && m.Membership == Membership.Join).ToList();
            if (rooms.Count == 0)
            {
                throw MatrixException.Forbidden("You are not joined to this room");
            }
        }

        var work = rooms.Select(m => new RoomWork(m, m.Membership == Membership.Join, since, m.Membership == Membership.Join ? upTo.Stream : Math.Min(upTo.Stream, m.StreamOrdering),
            null, false, TimelineLimit: MaxEventsPerRoom)).ToList();
        var filter = SyncFilter.Default with { IgnoredUsers = await ignoredUsers.GetAsync(userId, ct) };
        var timelines = since >= upTo.Stream ? [] : await builder.BuildTimelinesAsync(requester, work, filter, ct);
        var events = timelines.SelectMany(t => t.Result.Timeline).OrderBy(e => e.StreamOrdering).ToList();
        var batch = await loader.LoadAsync(events, requester.UserId, ct);
        var joined = rooms.Where(m => m.Membership == Membership.Join).Select(m => m.RoomId).ToList();
        var typingChanges = typing.GetChanges(joined, from.Typing).Where(t => t.Serial > from.Typing).ToList();
        var newReceipts = await receipts.GetReceiptsAsync(joined, since, upTo.Stream, userId, ct);
        var newPresence = new List<UserPresence>();
        if (onlyRoom is null)
        {
            var changed = await presenceStore.GetChangedAsync(since, upTo.Stream, PresenceSyncSection.MaxEvents, ct);
            var visible = (await presenceStore.FilterUsersSharingRoomAsync(userId, changed.Select(p => p.UserId).ToList(), ct)).ToHashSet(StringComparer.Ordinal);
            newPresence.AddRange(changed.Where(p => visible.Contains(p.UserId) || p.UserId == userId));
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var options = new ClientEventOptions(userId, requester.DeviceId, now);
        var json = Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("start"u8, from.ToString());
            w.WriteString("end"u8, upTo.ToString());
            w.WritePropertyName("chunk"u8);
            w.WriteStartArray();
            foreach (var e in events)
            {
                batch.Write(w, e, options);
            }

            foreach (var t in typingChanges)
            {
                TypingSyncSection.WriteEvent(w, t.UserIds, t.RoomId);
            }

            foreach (var group in newReceipts.GroupBy(r => r.RoomId, StringComparer.Ordinal))
            {
                ReceiptSyncSection.WriteEvent(w, group, group.Key);
            }

            foreach (var p in newPresence)
            {
                WritePresence(w, p, now);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
        return (json, events.Count == 0 && typingChanges.Count == 0 && newReceipts.Count == 0 && newPresence.Count == 0);
    }

    private async Task<List<LegacyRoom>> BuildRoomsAsync(
        Requester requester, IReadOnlyList<UserRoomMembership> rooms, SyncToken upTo, int limit, IReadOnlySet<string> ignored, CancellationToken ct)
    {
        var work = new List<RoomWork>();
        foreach (var m in rooms.Where(m => m.Membership != Membership.Invite))
        {
            // Someone who never joined (a rejected invite) sees only their own membership event, never the room's state.
            var neverJoined = m.Membership != Membership.Join && await memberships.WasJoinedBeforeAsync(m, null, ct) is null;
            var end = m.Membership == Membership.Join ? upTo.Stream : Math.Min(upTo.Stream, m.StreamOrdering);
            work.Add(new RoomWork(m, m.Membership == Membership.Join, 0, end, null, false, neverJoined, limit));
        }

        var filter = SyncFilter.Default with { IgnoredUsers = ignored };
        var timelines = (await builder.BuildTimelinesAsync(requester, work, filter, ct)).ToDictionary(t => t.Work.Membership.RoomId, StringComparer.Ordinal);

        var result = new List<LegacyRoom>();
        foreach (var m in rooms)
        {
            var room = new LegacyRoom(m, upTo, requester, time.GetUtcNow().ToUnixTimeMilliseconds()) { Public = await directory.IsPublishedAsync(m.RoomId, ct) };
            if (timelines.TryGetValue(m.RoomId, out var t))
            {
                room.Timeline.AddRange(t.Result.Timeline);
                room.Start = t.Result.PrevBatch;
                if (t.EndSnapshot is { } end)
                {
                    var state = await reads.GetStateAsync(end, ct);
                    room.State.AddRange(await reads.GetStoredEventsAsync(state.Values.ToList(), ct));
                }
            }
            else
            {
                room.Invite = (await reads.GetStoredEventsAsync([m.EventId], ct)).FirstOrDefault();
            }

            result.Add(room);
        }

        var all = result.SelectMany(r => r.Timeline.Concat(r.State).Concat(r.Invite is null ? [] : [r.Invite])).ToList();
        var batch = await loader.LoadAsync(all, requester.UserId, ct);
        foreach (var r in result)
        {
            r.Batch = batch;
        }

        return result;
    }

    private static void WritePresence(Utf8JsonWriter w, UserPresence p, long now)
    {
        // As Synapse writes it in the event stream: the content names its user.
        w.WriteStartObject();
        w.WriteString("type"u8, PresenceSyncSection.EventType);
        w.WriteString("sender"u8, p.UserId);
        w.WritePropertyName("content"u8);
        using var doc = JsonDocument.Parse(Write(c => PresenceService.WriteContent(c, p, now)));
        w.WriteStartObject();
        w.WriteString("user_id"u8, p.UserId);
        foreach (var field in doc.RootElement.EnumerateObject())
        {
            field.WriteTo(w);
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static byte[] Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer))
        {
            write(w);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>One room of /initialSync.</summary>
    private sealed class LegacyRoom(UserRoomMembership membership, SyncToken upTo, Requester requester, long now)
    {
        public UserRoomMembership Membership { get; } = membership;

        public List<StoredEvent> Timeline { get; } = [];

        public List<StoredEvent> State { get; } = [];

        public StoredEvent? Invite { get; set; }

        public string? Start { get; set; }

        public bool Public { get; init; }

        public ClientEventBatch Batch { get; set; } = null!;

        public void Write(Utf8JsonWriter w, IEnumerable<AccountDataEntry> accountData, Action<Utf8JsonWriter>? extra = null)
        {
            var options = new ClientEventOptions(requester.UserId, requester.DeviceId, now);
            w.WriteStartObject();
            w.WriteString("room_id"u8, Membership.RoomId);
            w.WriteString("membership"u8, Membership.Membership);
            w.WriteString("visibility"u8, Public ? "public" : "private");
            if (Invite is not null)
            {
                w.WritePropertyName("invite"u8);
                Batch.Write(w, Invite, options);
            }
            else
            {
                w.WritePropertyName("messages"u8);
                w.WriteStartObject();
                if (Start is not null)
                {
                    w.WriteString("start"u8, Start);
                }

                w.WriteString("end"u8, upTo.ToString());
                w.WritePropertyName("chunk"u8);
                w.WriteStartArray();
                foreach (var e in Timeline)
                {
                    Batch.Write(w, e, options);
                }

                w.WriteEndArray();
                w.WriteEndObject();
                w.WritePropertyName("state"u8);
                w.WriteStartArray();
                foreach (var e in State)
                {
                    Batch.Write(w, e, options);
                }

                w.WriteEndArray();
            }

            w.WritePropertyName("account_data"u8);
            w.WriteStartArray();
            foreach (var entry in accountData)
            {
                SyncResponseWriter.WriteAccountDataEvent(w, entry);
            }

            w.WriteEndArray();
            extra?.Invoke(w);
            w.WriteEndObject();
        }
    }
}
