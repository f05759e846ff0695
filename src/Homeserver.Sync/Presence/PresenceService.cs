using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Federation;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;
using Homeserver.Sync.Rooms;
using Microsoft.Extensions.Logging;

namespace Homeserver.Sync.Presence;

/// <summary>
/// Presence of local users (client-server API, "Presence"). Each device's state is kept in memory; the user's
/// combined state is persisted at a position of the global stream only when the change is worth announcing
/// (<see cref="PresenceRules.ShouldNotify"/>), which wakes the users who share a room. Syncing marks a device
/// online (or unavailable, per <c>set_presence</c>); activity (sending events, receipts, typing) bumps
/// <c>last_active</c>; one timer for the whole server applies the idle and offline timeouts.
/// Only users who share a room with someone see their presence.
///
/// Across servers (server-server API, "Presence"), as Synapse does: every announced change of a local user goes to
/// the other servers that share a room with them as an <c>m.presence</c> EDU, and so does an unchanged state that is
/// not offline every <see cref="PresenceTimings.FederationPingInterval"/>, so that they do not time it out. When a
/// user joins a room, the joiner's presence goes to the room's other servers and, to a server new to the room, the
/// presence of our users there. Other servers' users (from <see cref="PresenceEduHandler"/>) are kept like ours, in
/// the same table and stream, and become offline after <see cref="PresenceTimings.FederationTimeout"/> of silence.
/// </summary>
public sealed partial class PresenceService : IRoomEventListener, IDisposable
{
    private const int LockStripes = 64;

    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(5);

    private readonly object _lock = new();
    private readonly Dictionary<string, Entry> _users = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim[] _stripes = Enumerable.Range(0, LockStripes).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
    private readonly IPresenceStore _store;
    private readonly StreamPositions _streams;
    private readonly SyncNotifier _notifier;
    private readonly RoomAudience _audience;
    private readonly IEduSender _edus;
    private readonly TimeProvider _time;
    private readonly ILogger<PresenceService> _logger;
    private readonly string _serverName;
    private readonly ITimer _timer;
    private int _remoteLoaded;

    /// <summary>
    /// A user's combined state (null until loaded), their devices, and how many syncs each device has open. Other
    /// servers' users have no devices; they are kept here while not offline, for their timeout.
    /// </summary>
    private sealed class Entry
    {
        public UserPresence? Current { get; set; }

        /// <summary>When a local user's state was last sent to other servers (0: not by this process).</summary>
        public long LastFederatedTs { get; set; }

        public Dictionary<string, DevicePresence> Devices { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, int> Syncing { get; } = new(StringComparer.Ordinal);
    }

    public PresenceService(
        IPresenceStore store, StreamPositions streams, SyncNotifier notifier, RoomAudience audience, IEduSender edus, TimeProvider time, HomeserverConfig config,
        ILogger<PresenceService> logger, PresenceTimings? timings = null)
    {
        _store = store;
        _streams = streams;
        _notifier = notifier;
        _audience = audience;
        _edus = edus;
        _time = time;
        _logger = logger;
        _serverName = config.ServerName;
        Timings = timings ?? new PresenceTimings();
        _timer = time.CreateTimer(_ => _ = OnTickAsync(), null, Tick, Tick);
    }

    public PresenceTimings Timings { get; }

    /// <summary>
    /// PUT /presence/{userId}/status: sets the requester's state and status message. As the spec says, setting the
    /// status updates the activity time.
    /// </summary>
    public async Task SetAsync(Requester requester, string userId, string state, string? statusMsg, CancellationToken ct)
    {
        if (userId != requester.UserId)
        {
            throw MatrixException.Forbidden("Can only set your own presence state");
        }

        if (!PresenceStates.IsValid(state))
        {
            throw MatrixException.InvalidParam("presence must be one of online, unavailable, offline");
        }

        var position = await UpdateAsync(userId, (entry, prev, now) =>
        {
            entry.Devices[requester.DeviceId] = new DevicePresence(state, now, entry.Devices.GetValueOrDefault(requester.DeviceId)?.LastSyncTs ?? 0);
            var combined = PresenceRules.Combine(entry.Devices.Values);
            return prev with
            {
                State = combined,
                StatusMsg = statusMsg,
                LastActiveTs = now,
            };
        }, ct);
        await _streams.WaitUntilReadableAsync(position, ct);
    }

    /// <summary>
    /// GET /presence/{userId}/status: the user's presence, for themselves and for users who share a room with them
    /// (403 otherwise, as Synapse, so that strangers learn nothing).
    /// </summary>
    public async Task<(UserPresence Presence, long Now)> GetAsync(Requester requester, string userId, CancellationToken ct)
    {
        if (userId != requester.UserId && (await _store.FilterUsersSharingRoomAsync(requester.UserId, [userId], ct)).Count == 0)
        {
            throw MatrixException.Forbidden("You are not allowed to see their presence");
        }

        var current = await GetCurrentAsync([userId], ct);
        return (current.GetValueOrDefault(userId) ?? UserPresence.Default(userId), _time.GetUtcNow().ToUnixTimeMilliseconds());
    }

    /// <summary>The current presence of local users (from memory when known, else as persisted).</summary>
    public async Task<IReadOnlyDictionary<string, UserPresence>> GetCurrentAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        var result = new Dictionary<string, UserPresence>(StringComparer.Ordinal);
        var missing = new List<string>();
        lock (_lock)
        {
            foreach (var user in userIds)
            {
                if (_users.TryGetValue(user, out var e) && e.Current is { } p)
                {
                    result[user] = p;
                }
                else
                {
                    missing.Add(user);
                }
            }
        }

        if (missing.Count > 0)
        {
            foreach (var p in await _store.GetAsync(missing, ct))
            {
                result[p.UserId] = p;
            }
        }

        return result;
    }

    /// <summary>
    /// Marks the start of a sync (or event-stream) request from a device; dispose the result when the request ends.
    /// <paramref name="setPresence"/> is the request's <c>set_presence</c>: <c>offline</c> leaves presence alone.
    /// </summary>
    public async Task<SyncingScope> UserSyncingAsync(Requester requester, string setPresence, CancellationToken ct)
    {
        if (setPresence == PresenceStates.Offline || MatrixId.ServerOf(requester.UserId) != _serverName)
        {
            return new SyncingScope(null, 0);
        }

        lock (_lock)
        {
            var entry = GetOrAddEntry(requester.UserId);
            entry.Syncing[requester.DeviceId] = entry.Syncing.GetValueOrDefault(requester.DeviceId) + 1;
        }

        var scope = new SyncingScope(() => EndSync(requester), 0);
        try
        {
            scope.Position = await UpdateAsync(requester.UserId, (entry, prev, now) =>
            {
                entry.Devices[requester.DeviceId] = new DevicePresence(setPresence, now, now);
                var combined = PresenceRules.Combine(entry.Devices.Values);
                return prev with
                {
                    State = combined,
                    LastActiveTs = combined == PresenceStates.Online ? now : prev.LastActiveTs,
                    LastUserSyncTs = now,
                };
            }, ct);
        }
        catch
        {
            scope.Dispose();
            throw;
        }

        return scope;
    }

    /// <summary>Activity from a device (a receipt, typing): bumps last-active and brings an idle device back online.</summary>
    public void BumpActive(Requester requester)
    {
        if (MatrixId.ServerOf(requester.UserId) != _serverName)
        {
            return;
        }

        _ = UpdateSafeAsync(requester.UserId, (entry, prev, now) =>
        {
            var device = entry.Devices.GetValueOrDefault(requester.DeviceId) ?? new DevicePresence(PresenceStates.Online, now, 0);
            entry.Devices[requester.DeviceId] = device with
            {
                State = device.State is PresenceStates.Unavailable or PresenceStates.Offline ? PresenceStates.Online : device.State,
                LastActiveTs = now,
            };
            return prev with { State = PresenceRules.Combine(entry.Devices.Values), LastActiveTs = now };
        });
    }

    /// <summary>
    /// Sending an event counts as activity; a join makes presence known across servers (the writer's listener;
    /// returns at once).
    /// </summary>
    public void OnPersisted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head)
    {
        HashSet<string>? senders = null;
        List<string>? joined = null;
        foreach (var e in events)
        {
            if (e.SoftFailed)
            {
                continue;
            }

            if (e.Event.Type == EventTypes.Member)
            {
                if (e.Event.StateKey is { } target && e.StreamOrdering is not null && IsJoin(e.Event))
                {
                    (joined ??= []).Add(target);
                }
            }
            else if (MatrixId.ServerOf(e.Event.Sender) == _serverName)
            {
                (senders ??= new HashSet<string>(StringComparer.Ordinal)).Add(e.Event.Sender);
            }
        }

        foreach (var sender in senders ?? [])
        {
            BumpUser(sender);
        }

        if (joined is not null)
        {
            _ = SendOnJoinAsync(room.RoomId, joined);
        }
    }

    /// <summary>Writes one <c>m.presence</c> event as sync and the event stream show it.</summary>
    public static void WriteEvent(Utf8JsonWriter w, UserPresence p, long now)
    {
        w.WriteStartObject();
        w.WriteString("type"u8, "m.presence");
        w.WriteString("sender"u8, p.UserId);
        w.WritePropertyName("content"u8);
        WriteContent(w, p, now);
        w.WriteEndObject();
    }

    /// <summary>The content of a presence event (also the body of GET /presence/{userId}/status).</summary>
    public static void WriteContent(Utf8JsonWriter w, UserPresence p, long now)
    {
        w.WriteStartObject();
        w.WriteString("presence"u8, p.State);
        if (p.LastActiveTs > 0)
        {
            w.WriteNumber("last_active_ago"u8, Math.Max(0, now - p.LastActiveTs));
        }

        if (!string.IsNullOrEmpty(p.StatusMsg))
        {
            w.WriteString("status_msg"u8, p.StatusMsg);
        }

        if (p.State == PresenceStates.Online)
        {
            w.WriteBoolean("currently_active"u8, p.CurrentlyActive);
        }

        w.WriteEndObject();
    }

    public void Dispose() => _timer.Dispose();

    private void BumpUser(string userId)
    {
        _ = UpdateSafeAsync(userId, (entry, prev, now) =>
        {
            foreach (var (id, d) in entry.Devices.ToList())
            {
                entry.Devices[id] = d with { State = d.State == PresenceStates.Unavailable ? PresenceStates.Online : d.State, LastActiveTs = now };
            }

            var combined = entry.Devices.Count == 0 ? prev.State : PresenceRules.Combine(entry.Devices.Values);
            return prev with { State = combined == PresenceStates.Unavailable ? PresenceStates.Online : combined, LastActiveTs = now };
        });
    }

    private void EndSync(Requester requester)
    {
        lock (_lock)
        {
            if (!_users.TryGetValue(requester.UserId, out var entry))
            {
                return;
            }

            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var left = entry.Syncing.GetValueOrDefault(requester.DeviceId) - 1;
            if (left <= 0)
            {
                entry.Syncing.Remove(requester.DeviceId);
            }
            else
            {
                entry.Syncing[requester.DeviceId] = left;
            }

            if (entry.Devices.TryGetValue(requester.DeviceId, out var device))
            {
                entry.Devices[requester.DeviceId] = device with { LastSyncTs = now };
            }

            if (entry.Current is { } current)
            {
                entry.Current = current with { LastUserSyncTs = now };
            }
        }
    }

    private Entry GetOrAddEntry(string userId)
    {
        if (!_users.TryGetValue(userId, out var entry))
        {
            _users[userId] = entry = new Entry();
        }

        return entry;
    }

    private async Task UpdateSafeAsync(string userId, Func<Entry, UserPresence, long, UserPresence> change)
    {
        try
        {
            await UpdateAsync(userId, change, CancellationToken.None);
        }
        catch (Exception e)
        {
            LogUpdateFailed(e, userId);
        }
    }

    /// <summary>
    /// Applies a change to one user's presence under that user's lock; persists and announces it when
    /// <see cref="PresenceRules.ShouldNotify"/> says so, else keeps it in memory only.
    /// </summary>
    private async Task<long> UpdateAsync(string userId, Func<Entry, UserPresence, long, UserPresence> change, CancellationToken ct)
    {
        var stripe = _stripes[(StringComparer.Ordinal.GetHashCode(userId) & int.MaxValue) % LockStripes];
        await stripe.WaitAsync(ct);
        try
        {
            Entry entry;
            UserPresence? loaded = null;
            lock (_lock)
            {
                entry = GetOrAddEntry(userId);
            }

            if (entry.Current is null)
            {
                loaded = (await _store.GetAsync([userId], ct)).FirstOrDefault() ?? UserPresence.Default(userId);
            }

            UserPresence previous;
            UserPresence next;
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            lock (_lock)
            {
                entry.Current ??= loaded!;
                previous = entry.Current;
                next = change(entry, previous, now);

                // Ours are "currently active" by our clock; other servers' users as their server says.
                if (MatrixId.ServerOf(userId) == _serverName)
                {
                    next = PresenceRules.WithCurrentlyActive(next, now, Timings);
                }
            }

            return await CommitAsync(entry, previous, next, now, ct);
        }
        finally
        {
            stripe.Release();
        }
    }

    /// <summary>
    /// Persists and announces the change when worth it, to our users and (for a local user) to the other servers;
    /// returns its stream position (0 when kept in memory only).
    /// </summary>
    private async Task<long> CommitAsync(Entry entry, UserPresence previous, UserPresence next, long now, CancellationToken ct)
    {
        var local = MatrixId.ServerOf(next.UserId) == _serverName;
        if (!PresenceRules.ShouldNotify(previous, next, Timings))
        {
            lock (_lock)
            {
                entry.Current = next with { StreamId = previous.StreamId };
                ForgetIfRemoteAndOffline(entry, next, local);
            }

            if (local && PresenceRules.NeedsFederationPing(next, entry.LastFederatedTs, now, Timings))
            {
                entry.LastFederatedTs = now;
                Federate([next], OtherServersOf(await _store.GetUsersSharingRoomAsync(next.UserId, ct)), now);
            }

            return 0;
        }

        long position;
        using (var reservation = _streams.Reserve())
        {
            position = reservation.First;
            next = next with { StreamId = position };
            await _store.UpsertAsync(next, ct);
        }

        lock (_lock)
        {
            entry.Current = next;
            ForgetIfRemoteAndOffline(entry, next, local);
        }

        var sharing = await _store.GetUsersSharingRoomAsync(next.UserId, ct);
        var audience = new HashSet<string>(sharing, StringComparer.Ordinal) { next.UserId };
        _notifier.Notify(audience.Where(u => MatrixId.ServerOf(u) == _serverName).ToList(), position);
        if (local)
        {
            entry.LastFederatedTs = now;
            Federate([next], OtherServersOf(sharing), now);
        }

        return position;
    }

    private async Task OnTickAsync()
    {
        if (Interlocked.Exchange(ref _remoteLoaded, 1) == 0)
        {
            await LoadRemoteAsync();
        }

        List<string> candidates;
        List<string> silentRemotes;
        var tickTs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_lock)
        {
            candidates = _users.Where(kv => MatrixId.ServerOf(kv.Key) == _serverName
                    && kv.Value.Current is { } c && (c.State != PresenceStates.Offline || kv.Value.Devices.Count > 0 || c.CurrentlyActive))
                .Select(kv => kv.Key)
                .ToList();
            silentRemotes = _users.Where(kv => MatrixId.ServerOf(kv.Key) != _serverName
                    && kv.Value.Current is { } c && !ReferenceEquals(PresenceRules.HandleRemoteTimeout(c, tickTs, Timings), c))
                .Select(kv => kv.Key)
                .ToList();
        }

        foreach (var userId in candidates)
        {
            await UpdateSafeAsync(userId, (entry, prev, now) =>
                PresenceRules.HandleTimeout(prev, entry.Devices, entry.Syncing.Keys.ToHashSet(StringComparer.Ordinal), now, Timings));
        }

        foreach (var userId in silentRemotes)
        {
            await UpdateSafeAsync(userId, (_, prev, now) => PresenceRules.HandleRemoteTimeout(prev, now, Timings));
        }
    }

    /// <summary>
    /// An open sync request of a device: disposing it records the end of the sync. <see cref="Position"/> is the stream
    /// position of the presence change the sync caused (0 for none), so the sync can include its own change.
    /// </summary>
    public sealed class SyncingScope(Action? end, long position) : IDisposable
    {
        private int _disposed;

        public long Position { get; internal set; } = position;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                end?.Invoke();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not update the presence of {UserId}")]
    private partial void LogUpdateFailed(Exception e, string userId);
}
