using System.Collections.Concurrent;
using Homeserver.Core.Configuration;

namespace Homeserver.Core.RateLimiting;

/// <summary>What a rate limit applies to; each action has its own buckets and its own <c>rc_*</c> settings.</summary>
public enum RateLimitAction
{
    /// <summary>Sending messages (rc_message), keyed by user ID.</summary>
    Message,

    /// <summary>Creating accounts (rc_registration), keyed by client IP.</summary>
    Registration,

    /// <summary>Login requests (rc_login.address), keyed by client IP.</summary>
    LoginAddress,

    /// <summary>Successful logins into one account (rc_login.account), keyed by user ID.</summary>
    LoginAccount,

    /// <summary>Failed password attempts against one account (rc_login.failed_attempts), keyed by user ID.</summary>
    LoginFailedAttempts,

    /// <summary>Joining rooms (rc_joins.local), keyed by user ID.</summary>
    Joins,

    /// <summary>Checking registration tokens (rc_registration_token_validity), keyed by client IP.</summary>
    RegistrationTokenValidity,

    /// <summary>Asking for m.login.token tokens (fixed: one a minute, as Synapse), keyed by user ID.</summary>
    LoginTokenRequest,
}

/// <summary>
/// Token buckets per (action, key), configured by the <c>rc_*</c> keys (<see cref="RateLimits"/>). A bucket holds
/// up to <c>burst_count</c> tokens and refills at <c>per_second</c>; an action takes one token, and when none is
/// left the caller gets <c>429 M_LIMIT_EXCEEDED</c> with <c>retry_after_ms</c> (the error middleware adds
/// <c>Retry-After</c>). Server admins are exempt. <c>rc_enabled: false</c> turns every limit off.
/// State is in memory and per process, as Synapse's is; idle buckets (full again) are pruned.
/// </summary>
public sealed class RateLimiter(RateLimits config, TimeProvider time)
{
    private const int PruneEvery = 4096;
    private static readonly RateLimit LoginTokenRequestLimit = new(1.0 / 60, 1);

    private readonly ConcurrentDictionary<(RateLimitAction, string), Bucket> _buckets = new();
    private int _operations;

    private sealed class Bucket(double tokens, long updatedMs)
    {
        public double Tokens = tokens;
        public long UpdatedMs = updatedMs;
    }

    public bool Enabled => config.Enabled;

    /// <summary>Takes one token for <paramref name="key"/>, or throws 429 M_LIMIT_EXCEEDED. Admin requesters are never limited.</summary>
    public void Ratelimit(RateLimitAction action, string key, Requester? requester = null)
    {
        if (TryAcquire(action, key, requester, consume: true, out var retryAfterMs))
        {
            return;
        }

        throw MatrixException.LimitExceeded(retryAfterMs);
    }

    /// <summary>Throws 429 if the action would be limited now, without taking a token (Synapse's <c>update=False</c>).</summary>
    public void Check(RateLimitAction action, string key, Requester? requester = null)
    {
        if (!TryAcquire(action, key, requester, consume: false, out var retryAfterMs))
        {
            throw MatrixException.LimitExceeded(retryAfterMs);
        }
    }

    /// <summary>Takes a token even if none is left (e.g. to count a failed login after the fact).</summary>
    public void Record(RateLimitAction action, string key)
    {
        if (!config.Enabled)
        {
            return;
        }

        var limit = LimitFor(action);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var bucket = _buckets.GetOrAdd((action, key), _ => new Bucket(limit.BurstCount, now));
        lock (bucket)
        {
            Refill(bucket, limit, now);
            bucket.Tokens -= 1;
        }
    }

    /// <summary>True if allowed (and a token was taken when <paramref name="consume"/>); else how long to wait.</summary>
    public bool TryAcquire(RateLimitAction action, string key, Requester? requester, bool consume, out long retryAfterMs)
    {
        retryAfterMs = 0;
        if (!config.Enabled || requester?.IsAdmin == true)
        {
            return true;
        }

        var limit = LimitFor(action);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (Interlocked.Increment(ref _operations) % PruneEvery == 0)
        {
            Prune(now);
        }

        var bucket = _buckets.GetOrAdd((action, key), _ => new Bucket(limit.BurstCount, now));
        lock (bucket)
        {
            Refill(bucket, limit, now);
            if (bucket.Tokens >= 1)
            {
                if (consume)
                {
                    bucket.Tokens -= 1;
                }

                return true;
            }

            retryAfterMs = limit.PerSecond <= 0 ? long.MaxValue / 2 : (long)Math.Ceiling((1 - bucket.Tokens) / limit.PerSecond * 1000);
            return false;
        }
    }

    private static void Refill(Bucket bucket, RateLimit limit, long now)
    {
        var elapsed = Math.Max(0, now - bucket.UpdatedMs);
        bucket.Tokens = Math.Min(limit.BurstCount, bucket.Tokens + (elapsed / 1000.0 * limit.PerSecond));
        bucket.UpdatedMs = now;
    }

    private void Prune(long now)
    {
        foreach (var ((action, key), bucket) in _buckets)
        {
            var limit = LimitFor(action);
            bool full;
            lock (bucket)
            {
                full = bucket.Tokens + ((now - bucket.UpdatedMs) / 1000.0 * limit.PerSecond) >= limit.BurstCount;
            }

            if (full)
            {
                _buckets.TryRemove((action, key), out _);
            }
        }
    }

    private RateLimit LimitFor(RateLimitAction action) => action switch
    {
        RateLimitAction.Message => config.Message,
        RateLimitAction.Registration => config.Registration,
        RateLimitAction.LoginAddress => config.LoginAddress,
        RateLimitAction.LoginAccount => config.LoginAccount,
        RateLimitAction.LoginFailedAttempts => config.LoginFailedAttempts,
        RateLimitAction.Joins => config.Joins,
        RateLimitAction.RegistrationTokenValidity => config.RegistrationTokenValidity,
        RateLimitAction.LoginTokenRequest => LoginTokenRequestLimit,
        _ => throw new ArgumentOutOfRangeException(nameof(action)),
    };
}
