using System.Collections.Concurrent;
using Homeserver.Core;

namespace Homeserver.Users;

/// <summary>The outcome of resolving an access token.</summary>
public enum TokenStatus
{
    Valid,
    Unknown,

    /// <summary>The token existed but has expired: the client should refresh (soft logout).</summary>
    Expired,
}

/// <summary>
/// Resolves access tokens to a <see cref="Requester"/>. Resolved tokens are cached in memory so that an
/// authenticated request does not touch the database; logout and device deletion evict them here.
/// (With several server processes this cache would need invalidation through PostgreSQL NOTIFY.)
/// </summary>
public sealed class TokenAuthenticator(ISessionStore sessions, TimeProvider time)
{
    // Entries are re-validated against the database after this long, bounding the staleness of e.g. admin flags.
    private static readonly TimeSpan CacheLifetime = TimeSpan.FromMinutes(10);
    private const int MaxEntries = 100_000;

    private readonly ConcurrentDictionary<string, CacheEntry> _cache = new(StringComparer.Ordinal);

    private sealed record CacheEntry(AccessTokenRecord Record, long CachedAtTs);

    public async Task<(TokenStatus Status, Requester? Requester)> AuthenticateAsync(string token, CancellationToken ct)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (!_cache.TryGetValue(token, out var entry) || now - entry.CachedAtTs > (long)CacheLifetime.TotalMilliseconds)
        {
            var record = await sessions.FindAccessTokenAsync(AccessTokens.Hash(token), ct);
            if (record is null)
            {
                _cache.TryRemove(token, out _);
                return (TokenStatus.Unknown, null);
            }

            if (_cache.Count >= MaxEntries)
            {
                _cache.Clear();
            }

            entry = new CacheEntry(record, now);
            _cache[token] = entry;
        }

        var r = entry.Record;
        if (r.Deactivated)
        {
            return (TokenStatus.Unknown, null);
        }

        if (r.ExpiresTs is { } expires && expires <= now)
        {
            return (TokenStatus.Expired, null);
        }

        return (TokenStatus.Valid, new Requester(r.UserId, r.DeviceId, r.IsGuest, r.IsAdmin));
    }

    /// <summary>Forgets a token (after logout).</summary>
    public void Evict(string token) => _cache.TryRemove(token, out _);

    /// <summary>Forgets every cached token of these devices of a user (all devices when null).</summary>
    public void EvictDevices(string userId, IReadOnlyCollection<string>? deviceIds)
    {
        foreach (var (token, entry) in _cache)
        {
            if (entry.Record.UserId == userId && (deviceIds is null || deviceIds.Contains(entry.Record.DeviceId)))
            {
                _cache.TryRemove(token, out _);
            }
        }
    }
}
