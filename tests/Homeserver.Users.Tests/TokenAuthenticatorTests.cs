using Homeserver.Core;

namespace Homeserver.Users.Tests;

public sealed class TokenAuthenticatorTests
{
    private readonly ManualTime _time = new();
    private readonly FakeSessionStore _store = new();

    private TokenAuthenticator Create(bool cache = true) => new(_store, _time, new TokenCacheOptions(cache));

    [Fact]
    public async Task A_cached_token_is_resolved_without_asking_the_store_again()
    {
        _store.Add("mat_a", new AccessTokenRecord("@a:x", "DEV", null, false, true, false));
        var authenticator = Create();
        for (var i = 0; i < 100; i++)
        {
            var (status, requester) = await authenticator.AuthenticateAsync("mat_a", CancellationToken.None);
            status.Should().Be(TokenStatus.Valid);
            requester.Should().Be(new Requester("@a:x", "DEV", false, true));
        }

        _store.Lookups.Should().Be(1);
    }

    [Fact]
    public async Task With_the_cache_off_every_request_asks_the_store()
    {
        _store.Add("mat_a", new AccessTokenRecord("@a:x", "DEV", null, false, false, false));
        var authenticator = Create(cache: false);
        for (var i = 0; i < 10; i++)
        {
            (await authenticator.AuthenticateAsync("mat_a", CancellationToken.None)).Status.Should().Be(TokenStatus.Valid);
        }

        _store.Lookups.Should().Be(10);
    }

    [Fact]
    public async Task Cache_entries_are_checked_again_after_ten_minutes()
    {
        _store.Add("mat_a", new AccessTokenRecord("@a:x", "DEV", null, false, false, false));
        var authenticator = Create();
        await authenticator.AuthenticateAsync("mat_a", CancellationToken.None);
        _store.Remove("mat_a");
        (await authenticator.AuthenticateAsync("mat_a", CancellationToken.None)).Status.Should().Be(TokenStatus.Valid);
        _time.Now += TimeSpan.FromMinutes(11);
        (await authenticator.AuthenticateAsync("mat_a", CancellationToken.None)).Status.Should().Be(TokenStatus.Unknown);
    }

    [Fact]
    public async Task Evicting_a_token_a_device_or_a_user_makes_the_next_request_ask_the_store()
    {
        _store.Add("mat_a", new AccessTokenRecord("@a:x", "ONE", null, false, false, false));
        _store.Add("mat_b", new AccessTokenRecord("@a:x", "TWO", null, false, false, false));
        var authenticator = Create();
        await authenticator.AuthenticateAsync("mat_a", CancellationToken.None);
        await authenticator.AuthenticateAsync("mat_b", CancellationToken.None);
        _store.Remove("mat_a");
        _store.Remove("mat_b");

        authenticator.EvictDevices("@a:x", ["ONE"]);
        (await authenticator.AuthenticateAsync("mat_a", CancellationToken.None)).Status.Should().Be(TokenStatus.Unknown);
        (await authenticator.AuthenticateAsync("mat_b", CancellationToken.None)).Status.Should().Be(TokenStatus.Valid);
        authenticator.EvictUser("@a:x");
        (await authenticator.AuthenticateAsync("mat_b", CancellationToken.None)).Status.Should().Be(TokenStatus.Unknown);
    }

    [Fact]
    public async Task Evicting_all_devices_but_one_keeps_that_one_cached()
    {
        _store.Add("mat_keep", new AccessTokenRecord("@a:x", "KEEP", null, false, false, false));
        _store.Add("mat_drop", new AccessTokenRecord("@a:x", "DROP", null, false, false, false));
        var authenticator = Create();
        await authenticator.AuthenticateAsync("mat_keep", CancellationToken.None);
        await authenticator.AuthenticateAsync("mat_drop", CancellationToken.None);
        var lookups = _store.Lookups;
        authenticator.EvictDevices("@a:x", null, exceptDeviceId: "KEEP");
        await authenticator.AuthenticateAsync("mat_keep", CancellationToken.None);
        _store.Lookups.Should().Be(lookups);
        await authenticator.AuthenticateAsync("mat_drop", CancellationToken.None);
        _store.Lookups.Should().Be(lookups + 1);
    }

    [Fact]
    public async Task An_expired_token_is_expired_not_unknown_and_a_deactivated_user_is_unknown()
    {
        _store.Add("mat_e", new AccessTokenRecord("@a:x", "D", _time.GetUtcNow().ToUnixTimeMilliseconds() + 1000, false, false, false));
        _store.Add("mat_d", new AccessTokenRecord("@d:x", "D", null, false, false, true));
        var authenticator = Create();
        (await authenticator.AuthenticateAsync("mat_e", CancellationToken.None)).Status.Should().Be(TokenStatus.Valid);
        _time.Now += TimeSpan.FromSeconds(1);
        (await authenticator.AuthenticateAsync("mat_e", CancellationToken.None)).Status.Should().Be(TokenStatus.Expired);
        (await authenticator.AuthenticateAsync("mat_d", CancellationToken.None)).Status.Should().Be(TokenStatus.Unknown);
    }

    [Fact]
    public async Task The_first_use_of_a_refreshed_token_retires_its_predecessor_and_evicts_it_from_the_cache()
    {
        var oldHash = AccessTokens.Hash("mat_old");
        _store.Add("mat_old", new AccessTokenRecord("@a:x", "D", null, false, false, false));
        var authenticator = Create();
        (await authenticator.AuthenticateAsync("mat_old", CancellationToken.None)).Status.Should().Be(TokenStatus.Valid);
        _store.Add("mat_new", new AccessTokenRecord("@a:x", "D", null, false, false, false, oldHash));

        (await authenticator.AuthenticateAsync("mat_new", CancellationToken.None)).Status.Should().Be(TokenStatus.Valid);
        _store.Retired.Should().ContainSingle().Which.Should().Equal(oldHash);
        (await authenticator.AuthenticateAsync("mat_old", CancellationToken.None)).Status.Should().Be(TokenStatus.Unknown);
    }
}
