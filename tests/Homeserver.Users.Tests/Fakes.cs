using Homeserver.Core.Configuration;

namespace Homeserver.Users.Tests;

internal sealed class ManualTime : TimeProvider
{
    public DateTimeOffset Now { get; set; } = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>An in-memory session store that counts lookups, for the token cache and last-seen tests.</summary>
internal sealed class FakeSessionStore : ISessionStore
{
    public Dictionary<string, AccessTokenRecord> Tokens { get; } = [];

    public int Lookups { get; private set; }

    public List<byte[]> Retired { get; } = [];

    public List<IReadOnlyList<LastSeen>> LastSeenBatches { get; } = [];

    public void Add(string token, AccessTokenRecord record) => Tokens[Convert.ToHexString(AccessTokens.Hash(token))] = record;

    public void Remove(string token) => Tokens.Remove(Convert.ToHexString(AccessTokens.Hash(token)));

    public Task<AccessTokenRecord?> FindAccessTokenAsync(byte[] tokenHash, CancellationToken ct)
    {
        Lookups++;
        return Task.FromResult(Tokens.GetValueOrDefault(Convert.ToHexString(tokenHash)));
    }

    public Task<byte[]?> RetirePredecessorAsync(byte[] tokenHash, CancellationToken ct)
    {
        var key = Convert.ToHexString(tokenHash);
        var predecessor = Tokens[key].PredecessorHash;
        Tokens[key] = Tokens[key] with { PredecessorHash = null };
        if (predecessor is not null)
        {
            Retired.Add(predecessor);
            Tokens.Remove(Convert.ToHexString(predecessor));
        }

        return Task.FromResult(predecessor);
    }

    public Task UpdateLastSeenAsync(IReadOnlyList<LastSeen> batch, CancellationToken ct)
    {
        LastSeenBatches.Add(batch);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<string>> DeleteDevicesAsync(string userId, IReadOnlyCollection<string>? deviceIds, string? exceptDeviceId, CancellationToken ct)
    {
        var deleted = Tokens.Where(t => t.Value.UserId == userId && (deviceIds is null || deviceIds.Contains(t.Value.DeviceId)) && t.Value.DeviceId != exceptDeviceId).ToList();
        foreach (var (key, _) in deleted)
        {
            Tokens.Remove(key);
        }

        return Task.FromResult<IReadOnlyList<string>>(deleted.Select(d => d.Value.DeviceId).Distinct().ToList());
    }

    public Task CreateSessionAsync(string userId, string deviceId, string? displayName, NewSession session, long nowTs, CancellationToken ct) => throw new NotSupportedException();

    public Task<RefreshResult> RotateRefreshTokenAsync(byte[] refreshTokenHash, NewSession next, long nowTs, CancellationToken ct) => throw new NotSupportedException();

    public Task DeleteAccessTokenAsync(byte[] tokenHash, CancellationToken ct) => throw new NotSupportedException();

    public Task<IReadOnlyList<DeviceRecord>> ListDevicesAsync(string userId, CancellationToken ct) => throw new NotSupportedException();

    public Task<DeviceRecord?> GetDeviceAsync(string userId, string deviceId, CancellationToken ct) => throw new NotSupportedException();

    public Task<bool> SetDeviceDisplayNameAsync(string userId, string deviceId, string? displayName, CancellationToken ct) => throw new NotSupportedException();
}

internal static class TestConfig
{
    public static HomeserverConfig Create() => new()
    {
        ServerName = "example.org",
        PublicBaseUrl = new Uri("https://example.org/"),
        DataDirectory = "/tmp",
        ConfigDirectory = "/tmp",
        Listeners = [],
        SigningKeyPath = "/tmp/key",
        MediaStorePath = "/tmp/media",
    };
}
