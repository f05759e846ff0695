using System.Net.Http.Json;
using BenchmarkDotNet.Attributes;
using Homeserver.Core.Configuration;
using Homeserver.Users;

namespace Homeserver.Benchmarks;

/// <summary>
/// The overhead of an authenticated request: <c>GET /account/whoami</c> (token lookup, last-seen record, a tiny
/// JSON answer) with the token cache on and off, against <c>GET /versions</c> (no authentication) as the floor.
/// One request at a time, over a kept-alive loopback connection.
/// </summary>
[MemoryDiagnoser]
public class AuthenticatedRequestBenchmarks
{
    private BenchmarkServer _server = null!;
    private string _token = null!;

    [Params(true, false)]
    public bool TokenCache { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _server = await BenchmarkServer.StartAsync(TokenCache, new PasswordHashingConfig { MemoryKib = 64, Iterations = 1 });
        (_, _token) = await _server.RegisterAsync("bench" + Guid.NewGuid().ToString("N")[..8], "password");
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _server.DisposeAsync();

    [Benchmark(Baseline = true)]
    public async Task<int> Versions()
    {
        using var response = await _server.Client.GetAsync("/_matrix/client/versions");
        response.EnsureSuccessStatusCode();
        return (int)response.StatusCode;
    }

    [Benchmark]
    public async Task<int> WhoAmI()
    {
        using var request = _server.WhoAmI(_token);
        using var response = await _server.Client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return (int)response.StatusCode;
    }
}

/// <summary>
/// A password login (<c>POST /login</c>): Argon2id verification, a device and a token written in one transaction.
/// With the test parameters (64 KiB, 1 pass) the cost is the HTTP and database work; with the shipped defaults
/// (64 MiB, 3 passes) it is dominated by Argon2, deliberately.
/// </summary>
[MemoryDiagnoser]
public class LoginBenchmarks
{
    private BenchmarkServer _server = null!;
    private string _userId = null!;

    [Params("64KiB-t1", "64MiB-t3")]
    public string Hashing { get; set; } = "64KiB-t1";

    [GlobalSetup]
    public async Task SetupAsync()
    {
        var hashing = Hashing == "64MiB-t3" ? new PasswordHashingConfig() : new PasswordHashingConfig { MemoryKib = 64, Iterations = 1 };
        _server = await BenchmarkServer.StartAsync(true, hashing);
        (_userId, _) = await _server.RegisterAsync("login" + Guid.NewGuid().ToString("N")[..8], "password");
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _server.DisposeAsync();

    [Benchmark]
    public async Task<int> PasswordLogin()
    {
        using var response = await _server.Client.PostAsJsonAsync("/_matrix/client/v3/login", new
        {
            type = "m.login.password", identifier = new { type = "m.id.user", user = _userId }, password = "password", device_id = "BENCH",
        });
        response.EnsureSuccessStatusCode();
        return (int)response.StatusCode;
    }
}

/// <summary>The token cache alone: resolving a cached token, with no HTTP around it.</summary>
[MemoryDiagnoser]
public class TokenCacheBenchmarks
{
    private TokenAuthenticator _authenticator = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _authenticator = new TokenAuthenticator(new SingleTokenStore(), TimeProvider.System);
        await _authenticator.AuthenticateAsync("mat_token", CancellationToken.None);
    }

    [Benchmark]
    public async Task<TokenStatus> CachedToken() => (await _authenticator.AuthenticateAsync("mat_token", CancellationToken.None)).Status;

    private sealed class SingleTokenStore : ISessionStore
    {
        private static readonly AccessTokenRecord Record = new("@bench:example.org", "DEVICE", null, false, false, false);

        public Task<AccessTokenRecord?> FindAccessTokenAsync(byte[] tokenHash, CancellationToken ct) => Task.FromResult<AccessTokenRecord?>(Record);

        public Task CreateSessionAsync(string userId, string deviceId, string? displayName, NewSession session, long nowTs, CancellationToken ct) => throw new NotSupportedException();

        public Task<byte[]?> RetirePredecessorAsync(byte[] tokenHash, CancellationToken ct) => throw new NotSupportedException();

        public Task<RefreshResult> RotateRefreshTokenAsync(byte[] refreshTokenHash, NewSession next, long nowTs, CancellationToken ct) => throw new NotSupportedException();

        public Task DeleteAccessTokenAsync(byte[] tokenHash, CancellationToken ct) => throw new NotSupportedException();

        public Task<IReadOnlyList<string>> DeleteDevicesAsync(string userId, IReadOnlyCollection<string>? deviceIds, string? exceptDeviceId, CancellationToken ct) => throw new NotSupportedException();

        public Task<IReadOnlyList<DeviceRecord>> ListDevicesAsync(string userId, CancellationToken ct) => throw new NotSupportedException();

        public Task<DeviceRecord?> GetDeviceAsync(string userId, string deviceId, CancellationToken ct) => throw new NotSupportedException();

        public Task<bool> SetDeviceDisplayNameAsync(string userId, string deviceId, string? displayName, CancellationToken ct) => throw new NotSupportedException();

        public Task UpdateLastSeenAsync(IReadOnlyList<LastSeen> batch, CancellationToken ct) => throw new NotSupportedException();
    }
}
