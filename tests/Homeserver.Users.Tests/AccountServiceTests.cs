using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.RateLimiting;
using Microsoft.Extensions.Logging.Abstractions;

namespace Homeserver.Users.Tests;

public sealed class AccountServiceTests
{
    private sealed class FakeAccounts : IAccountStore
    {
        public List<(string UserId, bool Erase)> Deactivated { get; } = [];

        public Task DeactivateAsync(string userId, bool erase, CancellationToken ct)
        {
            Deactivated.Add((userId, erase));
            return Task.CompletedTask;
        }

        public Task<bool> CreateUserAsync(UserRecord user, CancellationToken ct) => throw new NotSupportedException();

        public Task<UserRecord?> GetUserAsync(string userId, CancellationToken ct) => throw new NotSupportedException();

        public Task SetPasswordHashAsync(string userId, string passwordHash, CancellationToken ct) => throw new NotSupportedException();

        public Task<bool> UpgradeGuestAsync(string userId, string passwordHash, CancellationToken ct) => throw new NotSupportedException();

        public Task<bool> SetDisplayNameAsync(string userId, string? displayName, CancellationToken ct) => throw new NotSupportedException();

        public Task<bool> SetAvatarUrlAsync(string userId, string? avatarUrl, CancellationToken ct) => throw new NotSupportedException();
    }

    private sealed class RecordingListener(List<string> log, string name) : IAccountDeactivationListener
    {
        public Task OnAccountDeactivatedAsync(string userId, bool erase, CancellationToken ct)
        {
            log.Add($"{name}:{userId}:{erase}");
            return Task.CompletedTask;
        }
    }

    private static AccountService Create(FakeAccounts accounts, FakeSessionStore sessions, IEnumerable<IAccountDeactivationListener> listeners)
    {
        var time = new ManualTime();
        var config = TestConfig.Create();
        var authenticator = new TokenAuthenticator(sessions, time);
        var sessionService = new SessionService(config, sessions, null!, authenticator, new LastSeenTracker(sessions), time, []);
        return new AccountService(config, accounts, null!, sessionService, new PasswordHasher(new PasswordHashingConfig { MemoryKib = 8, Iterations = 1 }),
            new RateLimiter(new RateLimits { Enabled = false }, time), listeners, NullLogger<AccountService>.Instance, time);
    }

    [Fact]
    public async Task Deactivation_tells_every_listener_after_the_store_and_the_token_cache_forget_the_account()
    {
        var log = new List<string>();
        var accounts = new FakeAccounts();
        var sessions = new FakeSessionStore();
        sessions.Add("mat_x", new AccessTokenRecord("@a:example.org", "D", null, false, false, false));
        var service = Create(accounts, sessions, [new RecordingListener(log, "rooms"), new RecordingListener(log, "push")]);
        await service.DeactivateAsync("@a:example.org", erase: true, CancellationToken.None);
        accounts.Deactivated.Should().Equal(("@a:example.org", true));
        log.Should().Equal("rooms:@a:example.org:True", "push:@a:example.org:True");
    }

    [Theory]
    [InlineData("Alice", "alice")]
    [InlineData("@Bob:example.org", "bob")]
    [InlineData("a.b_c=d-e/f+g", "a.b_c=d-e/f+g")]
    public void Usernames_are_lower_cased_localparts(string username, string localpart) =>
        Create(new FakeAccounts(), new FakeSessionStore(), []).NormaliseLocalpart(username).Should().Be(localpart);

    [Theory]
    [InlineData("")]
    [InlineData("_system")]
    [InlineData("12345")]
    [InlineData("bad:colon")]
    [InlineData("white space")]
    [InlineData("émile")]
    public void Invalid_and_reserved_usernames_are_M_INVALID_USERNAME(string username)
    {
        var act = () => Create(new FakeAccounts(), new FakeSessionStore(), []).NormaliseLocalpart(username);
        act.Should().Throw<MatrixException>().Which.ErrorCode.Should().Be(MatrixErrorCode.InvalidUsername);
    }

    [Fact]
    public void Numeric_usernames_are_allowed_for_guest_upgrades()
    {
        Create(new FakeAccounts(), new FakeSessionStore(), []).NormaliseLocalpart("12345", allowNumeric: true).Should().Be("12345");
    }

    [Theory]
    [InlineData("alice", "@alice:example.org")]
    [InlineData("ALICE", "@alice:example.org")]
    [InlineData("@Alice:Other.Example", "@alice:Other.Example")]
    public void Login_identifiers_map_to_canonical_user_ids(string identifier, string userId) =>
        Create(new FakeAccounts(), new FakeSessionStore(), []).CanonicalUserId(identifier).Should().Be(userId);
}
