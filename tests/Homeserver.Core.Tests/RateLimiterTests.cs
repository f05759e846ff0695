using Homeserver.Core.Configuration;
using Homeserver.Core.RateLimiting;

namespace Homeserver.Core.Tests;

public sealed class RateLimiterTests
{
    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.FromUnixTimeMilliseconds(1_000_000);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static (RateLimiter Limiter, ManualTime Time) Create(bool enabled = true)
    {
        var time = new ManualTime();
        var limits = new RateLimits { Enabled = enabled, Message = new RateLimit(0.5, 3) };
        return (new RateLimiter(limits, time), time);
    }

    private static long RetryAfter(Action act)
    {
        var e = act.Should().Throw<MatrixException>().Which;
        e.ErrorCode.Should().Be(MatrixErrorCode.LimitExceeded);
        e.HttpStatus.Should().Be(429);
        return (long)e.Extra!["retry_after_ms"]!;
    }

    [Fact]
    public void A_burst_is_allowed_then_the_next_action_is_refused_with_the_time_until_a_token_returns()
    {
        var (limiter, _) = Create();
        for (var i = 0; i < 3; i++)
        {
            limiter.Ratelimit(RateLimitAction.Message, "@a:x");
        }

        RetryAfter(() => limiter.Ratelimit(RateLimitAction.Message, "@a:x")).Should().Be(2000);
    }

    [Fact]
    public void Tokens_refill_at_the_configured_rate_up_to_the_burst()
    {
        var (limiter, time) = Create();
        for (var i = 0; i < 3; i++)
        {
            limiter.Ratelimit(RateLimitAction.Message, "@a:x");
        }

        time.Now += TimeSpan.FromMilliseconds(1500);
        RetryAfter(() => limiter.Ratelimit(RateLimitAction.Message, "@a:x")).Should().Be(500);
        time.Now += TimeSpan.FromMilliseconds(500);
        limiter.Ratelimit(RateLimitAction.Message, "@a:x");

        time.Now += TimeSpan.FromHours(1);
        for (var i = 0; i < 3; i++)
        {
            limiter.Ratelimit(RateLimitAction.Message, "@a:x");
        }

        RetryAfter(() => limiter.Ratelimit(RateLimitAction.Message, "@a:x"));
    }

    [Fact]
    public void Keys_and_actions_have_separate_buckets()
    {
        var (limiter, _) = Create();
        for (var i = 0; i < 3; i++)
        {
            limiter.Ratelimit(RateLimitAction.Message, "@a:x");
        }

        limiter.Ratelimit(RateLimitAction.Message, "@b:x");
        limiter.Ratelimit(RateLimitAction.Joins, "@a:x");
    }

    [Fact]
    public void Check_does_not_take_a_token_and_record_takes_one_even_when_empty()
    {
        var (limiter, _) = Create();
        for (var i = 0; i < 10; i++)
        {
            limiter.Check(RateLimitAction.Message, "@a:x");
        }

        for (var i = 0; i < 4; i++)
        {
            limiter.Record(RateLimitAction.Message, "@a:x");
        }

        RetryAfter(() => limiter.Check(RateLimitAction.Message, "@a:x")).Should().Be(4000);
    }

    [Fact]
    public void Admins_are_exempt_and_users_are_not()
    {
        var (limiter, _) = Create();
        var admin = new Requester("@admin:x", "D", IsAdmin: true);
        for (var i = 0; i < 100; i++)
        {
            limiter.Ratelimit(RateLimitAction.Message, admin.UserId, admin);
        }

        var user = new Requester("@user:x", "D");
        for (var i = 0; i < 3; i++)
        {
            limiter.Ratelimit(RateLimitAction.Message, user.UserId, user);
        }

        RetryAfter(() => limiter.Ratelimit(RateLimitAction.Message, user.UserId, user));
    }

    [Fact]
    public void Rate_limiting_off_allows_everything()
    {
        var (limiter, _) = Create(enabled: false);
        for (var i = 0; i < 1000; i++)
        {
            limiter.Ratelimit(RateLimitAction.Message, "@a:x");
        }
    }

    [Fact]
    public void Many_keys_are_pruned_without_losing_the_state_of_buckets_still_in_use()
    {
        var (limiter, _) = Create();
        for (var i = 0; i < 3; i++)
        {
            limiter.Ratelimit(RateLimitAction.Message, "@busy:x");
        }

        for (var i = 0; i < 10_000; i++)
        {
            limiter.Ratelimit(RateLimitAction.Joins, "@k" + i);
        }

        RetryAfter(() => limiter.Ratelimit(RateLimitAction.Message, "@busy:x"));
    }
}
