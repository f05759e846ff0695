using System.Collections.Concurrent;

namespace Homeserver.Users;

/// <summary>When, from where and with what a device was last seen.</summary>
public sealed record LastSeen(string UserId, string DeviceId, string? Ip, string? UserAgent, long Ts);

/// <summary>
/// The last IP, user agent and time of each device, recorded on every authenticated request in memory only, and
/// written to the <c>devices</c> table in batches by a background flush (as Synapse batches client IPs), so that a
/// request never waits for a database write. Readers overlay <see cref="Pending"/> on what the database holds.
/// </summary>
public sealed class LastSeenTracker(ISessionStore sessions)
{
    /// <summary>How often the host flushes (and so how much is lost on a crash).</summary>
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(10);

    // A request within this time of the last one, from the same IP and agent, changes nothing worth keeping.
    private const long GranularityMs = 1000;

    private readonly ConcurrentDictionary<(string UserId, string DeviceId), LastSeen> _pending = new();

    public int PendingCount => _pending.Count;

    public void Record(string userId, string deviceId, string? ip, string? userAgent, long nowTs)
    {
        var key = (userId, deviceId);
        if (_pending.TryGetValue(key, out var existing)
            && nowTs - existing.Ts < GranularityMs
            && existing.Ip == ip
            && existing.UserAgent == userAgent)
        {
            return;
        }

        _pending[key] = new LastSeen(userId, deviceId, ip, userAgent, nowTs);
    }

    /// <summary>The not yet flushed record of a device, if any.</summary>
    public LastSeen? Pending(string userId, string deviceId) => _pending.TryGetValue((userId, deviceId), out var seen) ? seen : null;

    /// <summary>Forgets devices that were deleted, so that a flush does not touch them.</summary>
    public void Forget(string userId, IReadOnlyCollection<string>? deviceIds)
    {
        foreach (var key in _pending.Keys)
        {
            if (key.UserId == userId && (deviceIds is null || deviceIds.Contains(key.DeviceId)))
            {
                _pending.TryRemove(key, out _);
            }
        }
    }

    /// <summary>Writes every pending record; records that arrive meanwhile stay for the next flush. Returns how many were written.</summary>
    public async Task<int> FlushAsync(CancellationToken ct)
    {
        if (_pending.IsEmpty)
        {
            return 0;
        }

        var batch = _pending.Values.ToList();
        await sessions.UpdateLastSeenAsync(batch, ct);
        foreach (var seen in batch)
        {
            // Only remove what was written: a newer record (a different instance) stays pending.
            _pending.TryRemove(new KeyValuePair<(string, string), LastSeen>((seen.UserId, seen.DeviceId), seen));
        }

        return batch.Count;
    }

    /// <summary>The device as stored, with the pending record laid over it when that is newer.</summary>
    public DeviceRecord Overlay(DeviceRecord device)
    {
        var seen = Pending(device.UserId, device.DeviceId);
        return seen is null || (device.LastSeenTs is { } stored && stored >= seen.Ts)
            ? device
            : device with { LastSeenTs = seen.Ts, LastSeenIp = seen.Ip, LastSeenUserAgent = seen.UserAgent };
    }
}
