using System.Collections.Immutable;
using Homeserver.Core;

namespace Homeserver.Sync.SlidingSync;

/// <summary>
/// What a connection has delivered of one room: everything up to <see cref="Stream"/>, with the timeline limit and
/// required state it was last sent with, and the members lazy-loaded to it so far.
/// </summary>
public sealed record SentRoom(long Stream, int TimelineLimit, string StateCanonical, ImmutableHashSet<string> LazyMembers, string Membership);

/// <summary>
/// The server's memory of one sliding sync connection at one <c>pos</c>: per room, what was sent; per extension,
/// whatever that extension keeps (e.g. per-room receipt positions). Immutable, so that a retried request with the
/// same <c>pos</c> starts again from exactly the same state.
/// </summary>
public sealed record ConnectionState(ImmutableDictionary<string, SentRoom> Rooms, ImmutableDictionary<string, object> Extensions)
{
    public static readonly ConnectionState Empty = new(
        ImmutableDictionary.Create<string, SentRoom>(StringComparer.Ordinal),
        ImmutableDictionary.Create<string, object>(StringComparer.Ordinal));
}

/// <summary>
/// Sliding sync connections (MSC4186, "Connections"), per (user, device, <c>conn_id</c>), in memory: a restart
/// forgets them and clients start again on <c>M_UNKNOWN_POS</c>, as the proposal allows. Each connection keeps
/// the state of the last position the client used and of the last few answers (a client may retry or change its
/// request with the same <c>pos</c>); positions older than one the client uses are dropped.
/// Bounded: a few connections per device, a total cap with least-recently-used eviction, and an idle expiry.
/// </summary>
public sealed class SlidingSyncConnections(TimeProvider time)
{
    public const int MaxConnectionsPerDevice = 10;
    public const int MaxConnections = 20_000;
    public static readonly TimeSpan IdleExpiry = TimeSpan.FromHours(6);

    /// <summary>How many recent answers of a connection stay usable as <c>pos</c>.</summary>
    private const int KeptAnswers = 3;

    private readonly object _lock = new();
    private readonly Dictionary<(string User, string Device, string ConnId), Connection> _connections = [];

    private sealed class Connection
    {
        public long Next { get; set; } = 1;

        public SortedDictionary<long, ConnectionState> States { get; } = [];

        public long LastUsed { get; set; }
    }

    /// <summary>
    /// The state a request starts from: empty for a request without <c>pos</c> (which resets the connection), else
    /// the state kept for that position; a position the server does not know is <c>M_UNKNOWN_POS</c>.
    /// </summary>
    public ConnectionState Begin(Requester requester, string connId, long? position)
    {
        var key = (requester.UserId, requester.DeviceId, connId);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_lock)
        {
            if (position is not { } p)
            {
                _connections.Remove(key);
                return ConnectionState.Empty;
            }

            if (!_connections.TryGetValue(key, out var connection) || now - connection.LastUsed > IdleExpiry.TotalMilliseconds
                || !connection.States.TryGetValue(p, out var state))
            {
                throw new MatrixException(MatrixErrorCode.UnknownPos, 400, "Unknown position; start again without 'pos'");
            }

            connection.LastUsed = now;
            foreach (var old in connection.States.Keys.Where(k => k < p).ToList())
            {
                connection.States.Remove(old);
            }

            return state;
        }
    }

    /// <summary>Records the state after an answer and returns the connection position that names it.</summary>
    public long Commit(Requester requester, string connId, long? fromPosition, ConnectionState state)
    {
        var key = (requester.UserId, requester.DeviceId, connId);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_lock)
        {
            if (!_connections.TryGetValue(key, out var connection))
            {
                Evict(requester, now);
                _connections[key] = connection = new Connection();
            }

            connection.LastUsed = now;
            if (fromPosition is { } from && connection.States.TryGetValue(from, out var previous) && ReferenceEquals(previous, state))
            {
                return from;
            }

            var position = connection.Next++;
            connection.States[position] = state;

            // Keep the position the request came from (for retries) and the last few answers (a client may have
            // cancelled a request whose answer it never saw, or may use any of them next).
            foreach (var old in connection.States.Keys.Where(k => k != fromPosition).OrderByDescending(k => k).Skip(KeptAnswers).ToList())
            {
                connection.States.Remove(old);
            }

            return position;
        }
    }

    /// <summary>How many connections are held (for tests and metrics).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _connections.Count;
            }
        }
    }

    private void Evict(Requester requester, long now)
    {
        foreach (var stale in _connections.Where(kv => now - kv.Value.LastUsed > IdleExpiry.TotalMilliseconds).Select(kv => kv.Key).ToList())
        {
            _connections.Remove(stale);
        }

        var mine = _connections.Where(kv => kv.Key.User == requester.UserId && kv.Key.Device == requester.DeviceId).OrderBy(kv => kv.Value.LastUsed).ToList();
        foreach (var (key, _) in mine.Take(Math.Max(0, mine.Count - MaxConnectionsPerDevice + 1)))
        {
            _connections.Remove(key);
        }

        if (_connections.Count >= MaxConnections)
        {
            foreach (var (key, _) in _connections.OrderBy(kv => kv.Value.LastUsed).Take(_connections.Count / 10 + 1).ToList())
            {
                _connections.Remove(key);
            }
        }
    }
}
