using Homeserver.Core;
using Homeserver.Core.Federation;
using Homeserver.Sync.Federation;
using Homeserver.Sync.Presence;
using Homeserver.Sync.Rooms;
using Microsoft.Extensions.Logging;

namespace Homeserver.Sync.Typing;

/// <summary>The users typing in one room, and the typing serial of its last change.</summary>
public sealed record RoomTyping(string RoomId, IReadOnlyList<string> UserIds, long Serial);

/// <summary>
/// Typing notifications (client-server API, "Typing Notifications"): kept in memory only, as every
/// homeserver does, since they expire within seconds. Each change takes the next value of a serial that
/// sync tokens carry beside the persisted stream position.
///
/// The serial starts at the Unix time in milliseconds when the process starts, so serials of a later
/// process are greater than any its predecessor handed out (unless it made more than a thousand changes
/// per second on average). A token whose typing part is below <see cref="Floor"/> (an earlier process,
/// or changes pruned from memory) or above <see cref="Current"/> (garbage) makes the next sync resend the
/// typing list of every joined room, including empty ones, so that no stale "is typing" survives a restart.
///
/// Across servers (server-server API, "Typing Notifications"), as Synapse does: a local user's start and stop go to
/// every other server with joined members in the room as <c>m.typing</c> EDUs, repeated every
/// <see cref="FederationPingInterval"/> while the user keeps typing, and a stop is sent when the timeout ends it.
/// A remote user's typing (accepted by <see cref="TypingEduHandler"/>) lasts <see cref="FederationTimeout"/> unless
/// their server repeats it.
/// </summary>
public sealed partial class TypingService : IEphemeralPositions, IDisposable
{
    /// <summary>The longest a typing notification lasts (Synapse's cap), and the default when none is given.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(2);

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long a remote user's typing lasts unless their server repeats it (Synapse's typing <c>FEDERATION_TIMEOUT</c>).</summary>
    public static readonly TimeSpan FederationTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How often a local user's continuing typing is repeated to other servers (Synapse's <c>FEDERATION_PING_INTERVAL</c>).</summary>
    public static readonly TimeSpan FederationPingInterval = TimeSpan.FromSeconds(40);

    /// <summary>Rooms whose typing list has been empty for this long are forgotten (raising <see cref="Floor"/>).</summary>
    private static readonly TimeSpan PruneAfter = TimeSpan.FromMinutes(10);

    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    private readonly object _lock = new();
    private readonly Dictionary<string, RoomState> _rooms = new(StringComparer.Ordinal);
    private readonly RoomAudience _audience;
    private readonly PresenceService _presence;
    private readonly SyncNotifier _notifier;
    private readonly IEduSender _edus;
    private readonly TimeProvider _time;
    private readonly ILogger<TypingService> _logger;
    private readonly ITimer _timer;
    private long _serial;
    private long _floor;
    private bool _timerRunning;

    private sealed class RoomState
    {
        public Dictionary<string, long> ExpiresAt { get; } = new(StringComparer.Ordinal);

        /// <summary>When each typing local user's state was last sent to the other servers.</summary>
        public Dictionary<string, long> LastSent { get; } = new(StringComparer.Ordinal);

        public long Serial { get; set; }

        public long ChangedAt { get; set; }
    }

    public TypingService(
        RoomAudience audience, PresenceService presence, SyncNotifier notifier, IEduSender edus, TimeProvider time, ILogger<TypingService> logger)
    {
        _audience = audience;
        _presence = presence;
        _notifier = notifier;
        _edus = edus;
        _time = time;
        _logger = logger;
        _serial = Math.Max(1, time.GetUtcNow().ToUnixTimeMilliseconds());
        _floor = _serial;
        _timer = time.CreateTimer(_ => OnTick(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The serial of the latest change.</summary>
    public long Current
    {
        get
        {
            lock (_lock)
            {
                return _serial;
            }
        }
    }

    /// <summary>The lowest serial this process can answer incrementally from.</summary>
    public long Floor
    {
        get
        {
            lock (_lock)
            {
                return _floor;
            }
        }
    }

    /// <summary>
    /// PUT /rooms/{roomId}/typing/{userId}: marks the requester as typing for <paramref name="timeout"/>, or
    /// stops. Only for yourself, and only in rooms you are joined to.
    /// </summary>
    public async Task SetTypingAsync(Requester requester, string roomId, string userId, bool typing, TimeSpan timeout, CancellationToken ct)
    {
        if (userId != requester.UserId)
        {
            // As Synapse: 400 with M_FORBIDDEN.
            throw new MatrixException(MatrixErrorCode.Forbidden, 400, "Cannot set another user's typing state");
        }

        if (!await _audience.IsJoinedAsync(roomId, userId, ct))
        {
            throw MatrixException.Forbidden("You are not joined to this room");
        }

        if (timeout > MaxTimeout)
        {
            timeout = MaxTimeout;
        }

        // Typing is activity (as Synapse).
        _presence.BumpActive(requester);

        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        bool changed;
        lock (_lock)
        {
            if (!_rooms.TryGetValue(roomId, out var room))
            {
                _rooms[roomId] = room = new RoomState();
            }

            if (typing)
            {
                // Refreshing an existing typing entry changes nothing that clients see (nor other servers).
                changed = !room.ExpiresAt.ContainsKey(userId);
                room.ExpiresAt[userId] = now + (long)timeout.TotalMilliseconds;
                if (changed)
                {
                    room.LastSent[userId] = now;
                }
            }
            else
            {
                changed = room.ExpiresAt.Remove(userId);
                room.LastSent.Remove(userId);
            }

            Changed(room, changed, now);
        }

        if (changed)
        {
            _notifier.NotifyNow(await _audience.GetLocalJoinedAsync(roomId, ct));
            await SendAsync([new TypingEdu(roomId, userId, typing)], ct);
        }
    }

    /// <summary>
    /// Applies an <c>m.typing</c> EDU that <see cref="TypingEduHandler"/> has checked: the user belongs to the origin and
    /// is joined to the room. Typing lasts <see cref="FederationTimeout"/> unless repeated.
    /// </summary>
    public async Task SetRemoteTypingAsync(TypingEdu edu, CancellationToken ct)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        bool changed;
        lock (_lock)
        {
            if (!_rooms.TryGetValue(edu.RoomId, out var room))
            {
                if (!edu.Typing)
                {
                    return;
                }

                _rooms[edu.RoomId] = room = new RoomState();
            }

            if (edu.Typing)
            {
                changed = !room.ExpiresAt.ContainsKey(edu.UserId);
                room.ExpiresAt[edu.UserId] = now + (long)FederationTimeout.TotalMilliseconds;
            }
            else
            {
                changed = room.ExpiresAt.Remove(edu.UserId);
            }

            Changed(room, changed, now);
        }

        if (changed)
        {
            _notifier.NotifyNow(await _audience.GetLocalJoinedAsync(edu.RoomId, ct));
        }
    }

    /// <summary>Under the lock: takes the next serial for a changed room, and makes sure the timer runs while anyone types.</summary>
    private void Changed(RoomState room, bool changed, long now)
    {
        if (changed)
        {
            room.Serial = ++_serial;
            room.ChangedAt = now;
        }

        if (room.ExpiresAt.Count > 0 && !_timerRunning)
        {
            _timerRunning = true;
            _timer.Change(Tick, Tick);
        }
    }

    /// <summary>
    /// The typing lists to send for <paramref name="roomIds"/> after a token whose typing part is
    /// <paramref name="since"/> (null for an initial sync: every room with a typing list in this process), up to the answer's own
    /// position <paramref name="upTo"/> (later changes belong to the next answer).
    /// </summary>
    public IReadOnlyList<RoomTyping> GetChanges(IEnumerable<string> roomIds, long? since, long? upTo = null)
    {
        var result = new List<RoomTyping>();
        lock (_lock)
        {
            var everything = since is { } s && (s < _floor || s > _serial);
            foreach (var roomId in roomIds)
            {
                if (!_rooms.TryGetValue(roomId, out var room))
                {
                    if (everything)
                    {
                        result.Add(new RoomTyping(roomId, [], _serial));
                    }

                    continue;
                }

                // A change after the answer's own position is left to the next answer, which starts there: reporting it
                // now as well would repeat it (and a client would see an old typing list once more after a newer one).
                if (upTo is { } bound && room.Serial > bound)
                {
                    continue;
                }

                // An initial sync reports every room whose typing list this process has seen change (an empty list
                // after a stop included), as Synapse's typing stream from position 0 does; an incremental one, the rooms
                // that changed after the token.
                var include = since is null || everything || room.Serial > since;
                if (include)
                {
                    result.Add(new RoomTyping(roomId, room.ExpiresAt.Keys.Order(StringComparer.Ordinal).ToList(), room.Serial));
                }
            }
        }

        return result;
    }

    /// <summary>Who is typing in one room now.</summary>
    public IReadOnlyList<string> GetTyping(string roomId)
    {
        lock (_lock)
        {
            return _rooms.TryGetValue(roomId, out var room) ? room.ExpiresAt.Keys.Order(StringComparer.Ordinal).ToList() : [];
        }
    }

    public void Dispose() => _timer.Dispose();

    /// <summary>Expires typing entries whose timeout has passed and wakes the rooms' members.</summary>
    private void OnTick()
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        List<string>? changedRooms = null;
        List<TypingEdu>? toSend = null;
        lock (_lock)
        {
            var anyTyping = false;
            List<string>? forget = null;
            foreach (var (roomId, room) in _rooms)
            {
                var expired = room.ExpiresAt.Where(kv => kv.Value <= now).Select(kv => kv.Key).ToList();
                foreach (var user in expired)
                {
                    room.ExpiresAt.Remove(user);
                    if (room.LastSent.Remove(user))
                    {
                        // A local user's typing ran out: the other servers hear that it stopped.
                        (toSend ??= []).Add(new TypingEdu(roomId, user, false));
                    }
                }

                foreach (var (user, sent) in room.LastSent.ToList())
                {
                    if (now - sent >= (long)FederationPingInterval.TotalMilliseconds)
                    {
                        // Still typing: repeat it before the other servers time it out.
                        room.LastSent[user] = now;
                        (toSend ??= []).Add(new TypingEdu(roomId, user, true));
                    }
                }

                if (expired.Count > 0)
                {
                    room.Serial = ++_serial;
                    room.ChangedAt = now;
                    (changedRooms ??= []).Add(roomId);
                }

                anyTyping |= room.ExpiresAt.Count > 0;
                if (room.ExpiresAt.Count == 0 && now - room.ChangedAt > PruneAfter.TotalMilliseconds)
                {
                    (forget ??= []).Add(roomId);
                }
            }

            foreach (var roomId in forget ?? [])
            {
                _floor = Math.Max(_floor, _rooms[roomId].Serial);
                _rooms.Remove(roomId);
            }

            if (!anyTyping && _timerRunning && _rooms.Count == 0)
            {
                _timerRunning = false;
                _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }

        if (changedRooms is not null)
        {
            _ = NotifyRoomsAsync(changedRooms);
        }

        if (toSend is not null)
        {
            _ = SendAsync(toSend, CancellationToken.None);
        }
    }

    /// <summary>Queues <c>m.typing</c> EDUs of local users for the other servers in their rooms (best effort: failures are logged).</summary>
    private async Task SendAsync(IReadOnlyList<TypingEdu> edus, CancellationToken ct)
    {
        foreach (var edu in edus)
        {
            try
            {
                var servers = await _audience.GetRemoteServersAsync(edu.RoomId, ct);
                if (servers.Count > 0)
                {
                    _edus.Send(servers, EphemeralEdus.Typing, EphemeralEdus.BuildTyping(edu.RoomId, edu.UserId, edu.Typing));
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogSendFailed(e, edu.RoomId);
            }
        }
    }

    private async Task NotifyRoomsAsync(List<string> roomIds)
    {
        try
        {
            foreach (var roomId in roomIds)
            {
                _notifier.NotifyNow(await _audience.GetLocalJoinedAsync(roomId, CancellationToken.None));
            }
        }
        catch (Exception e)
        {
            LogNotifyFailed(e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not wake the members of rooms whose typing notifications expired")]
    private partial void LogNotifyFailed(Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not send a typing notification of room {RoomId} to other servers")]
    private partial void LogSendFailed(Exception e, string roomId);
}
