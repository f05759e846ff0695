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

/// <summary>Whether resolved access tokens are cached in memory (always, except to measure what the cache saves).</summary>
public sealed record TokenCacheOptions(bool Enabled = true);

/// <summary>
/// Resolves access tokens to a <see cref="Requester"/>. Resolved tokens are cached in memory so that an
/// authenticated request does not touch the database; logout, device deletion, refresh-token rotation and
/// deactivation evict them here. (With several server processes this cache would need invalidation through
/// PostgreSQL NOTIFY.)
/// </summary>
public sealed class TokenAuthenticator(ISessionStore sessions, TimeProvider time, TokenCacheOptions? options = null)
{
    // Entries are re-validated against the database after this long, bounding the staleness of e.g. admin flags.
    private static readonly TimeSpan CacheLifetime = TimeSpan.FromMinutes(10);
    private const int MaxEntries = 100_000;

    private readonly bool _cacheEnabled = options?.Enabled ?? true;
    private readonly ConcurrentDictionary<string, CacheEntry> _cache = new(StringComparer.Ordinal);

    // Bumped by every eviction: a lookup that raced with an eviction does not cache what it read.
    private long _generation;

    private sealed record CacheEntry(AccessTokenRecord Record, byte[] Hash, long CachedAtTs);

    public int CachedCount => _cache.Count;

    public async Task<(TokenStatus Status, Requester? Requester)> AuthenticateAsync(string token, CancellationToken ct)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (!_cache.TryGetValue(token, out var entry) || now - entry.CachedAtTs > (long)CacheLifetime.TotalMilliseconds)
        {
            var generation = Interlocked.Read(ref _generation);
            var hash = AccessTokens.Hash(token);
            var record = await sessions.FindAccessTokenAsync(hash, ct);
            if (record is null)
            {
                _cache.TryRemove(token, out _);
                return (TokenStatus.Unknown, null);
            }

            if (record.PredecessorHash is not null)
            {
                // The first use of a token made by /refresh: the refresh token that made it is now spent.
                if (await sessions.RetirePredecessorAsync(hash, ct) is { } revoked)
                {
                    EvictHash(revoked);
                }

                record = record with { PredecessorHash = null };
            }

            entry = new CacheEntry(record, hash, now);
            if (_cacheEnabled && Interlocked.Read(ref _generation) == generation)
            {
                if (_cache.Count >= MaxEntries)
                {
                    _cache.Clear();
                }

                _cache[token] = entry;
            }
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
    public void Evict(string token)
    {
        Interlocked.Increment(ref _generation);
        _cache.TryRemove(token, out _);
    }

    /// <summary>Forgets a token known only by its hash (revoked by refresh-token rotation). Scans the cache: rare.</summary>
    public void EvictHash(byte[] hash)
    {
        Interlocked.Increment(ref _generation);
        foreach (var (token, entry) in _cache)
        {
            if (entry.Hash.AsSpan().SequenceEqual(hash))
            {
                _cache.TryRemove(token, out _);
            }
        }
    }

    /// <summary>Forgets every cached token of these devices of a user (all devices when null), except one device's.</summary>
    public void EvictDevices(string userId, IReadOnlyCollection<string>? deviceIds, string? exceptDeviceId = null)
    {
        Interlocked.Increment(ref _generation);
        foreach (var (token, entry) in _cache)
        {
            if (entry.Record.UserId == userId
                && (deviceIds is null || deviceIds.Contains(entry.Record.DeviceId))
                && entry.Record.DeviceId != exceptDeviceId)
            {
                _cache.TryRemove(token, out _);
            }
        }
    }

    /// <summary>Forgets every cached token of a user (deactivation, admin changes).</summary>
    public void EvictUser(string userId) => EvictDevices(userId, null);
}
