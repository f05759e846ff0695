namespace Homeserver.Sync.Presence;

/// <summary>The values of <c>presence</c> (client-server API, "Presence").</summary>
public static class PresenceStates
{
    public const string Online = "online";
    public const string Unavailable = "unavailable";
    public const string Offline = "offline";

    public static bool IsValid(string? state) => state is Online or Unavailable or Offline;

    /// <summary>Higher wins when several devices disagree (as Synapse: online over unavailable over offline).</summary>
    public static int Priority(string state) => state switch
    {
        Online => 3,
        Unavailable => 2,
        _ => 1,
    };
}

/// <summary>
/// A user's presence as other users see it. <see cref="StreamId"/> is the stream position it was last persisted at.
/// For another server's user, <see cref="LastUserSyncTs"/> is when their server last told us about them (Synapse's
/// <c>last_federation_update_ts</c>): we never see them sync.
/// </summary>
public sealed record UserPresence(
    string UserId,
    string State,
    string? StatusMsg,
    long LastActiveTs,
    long LastUserSyncTs,
    bool CurrentlyActive,
    long StreamId)
{
    public static UserPresence Default(string userId) => new(userId, PresenceStates.Offline, null, 0, 0, false, 0);
}

/// <summary>One device's view of its user's presence (kept in memory only, as Synapse does).</summary>
public sealed record DevicePresence(string State, long LastActiveTs, long LastSyncTs);

/// <summary>The timers of presence (Synapse's defaults).</summary>
public sealed record PresenceTimings
{
    /// <summary>An online user inactive for this long becomes unavailable.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>A user neither syncing nor active for this long becomes offline.</summary>
    public TimeSpan SyncOnlineTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A user active within this long is "currently active"; last-active bumps within it are not announced.</summary>
    public TimeSpan LastActiveGranularity { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>A local user who is not offline has their presence sent to other servers at least this often (Synapse's <c>FEDERATION_PING_INTERVAL</c>).</summary>
    public TimeSpan FederationPingInterval { get; init; } = TimeSpan.FromMinutes(25);

    /// <summary>A remote user whose server has said nothing for this long becomes offline here (Synapse's <c>FEDERATION_TIMEOUT</c>).</summary>
    public TimeSpan FederationTimeout { get; init; } = TimeSpan.FromMinutes(30);
}

/// <summary>
/// The presence state machine (client-server API, "Presence": "Last active ago" and "Idle timeout"), pure so
/// that its timers are testable without waiting: per-device states are combined into the user's state,
/// timeouts move devices to unavailable then offline, and <see cref="ShouldNotify"/> decides which changes are
/// worth a stream position and a wake-up (mirroring Synapse's <c>handle_timeout</c> and <c>should_notify</c>).
/// </summary>
public static class PresenceRules
{
    /// <summary>The user's state from their devices: the highest priority wins, ties to the most recently active.</summary>
    public static string Combine(IEnumerable<DevicePresence> devices)
    {
        var best = PresenceStates.Offline;
        var bestActive = long.MinValue;
        foreach (var d in devices)
        {
            if ((PresenceStates.Priority(d.State), d.LastActiveTs).CompareTo((PresenceStates.Priority(best), bestActive)) > 0)
            {
                best = d.State;
                bestActive = d.LastActiveTs;
            }
        }

        return best;
    }

    /// <summary>
    /// Applies timeouts at <paramref name="now"/>: idle online devices become unavailable, devices that neither sync
    /// nor act are dropped, and a user with no syncing device and no recent activity becomes offline.
    /// Returns the new user state (unchanged reference when nothing changed) and updates <paramref name="devices"/>.
    /// </summary>
    public static UserPresence HandleTimeout(
        UserPresence state, IDictionary<string, DevicePresence> devices, IReadOnlySet<string> syncingDevices, long now, PresenceTimings timings)
    {
        if (state.State == PresenceStates.Offline && devices.Count == 0)
        {
            return state;
        }

        var idle = (long)timings.IdleTimeout.TotalMilliseconds;
        var syncTimeout = (long)timings.SyncOnlineTimeout.TotalMilliseconds;
        var devicesChanged = false;
        foreach (var (deviceId, device) in devices.ToList())
        {
            var d = device;
            if (d.State == PresenceStates.Online && now - d.LastActiveTs > idle)
            {
                d = d with { State = PresenceStates.Unavailable };
                devices[deviceId] = d;
                devicesChanged = true;
            }

            if (!syncingDevices.Contains(deviceId) && now - Math.Max(d.LastSyncTs, d.LastActiveTs) > syncTimeout)
            {
                devices.Remove(deviceId);
                devicesChanged = true;
            }
        }

        var next = state;
        if (devicesChanged)
        {
            next = next with { State = Combine(devices.Values) };
        }

        if (next.State == PresenceStates.Online && now - next.LastActiveTs > idle)
        {
            next = next with { State = PresenceStates.Unavailable };
        }

        if (next.State != PresenceStates.Offline && syncingDevices.Count == 0
            && now - Math.Max(next.LastUserSyncTs, next.LastActiveTs) > syncTimeout)
        {
            next = next with { State = PresenceStates.Offline };
        }

        return WithCurrentlyActive(next, now, timings);
    }

    /// <summary>
    /// Another server's user whose server has been silent for <see cref="PresenceTimings.FederationTimeout"/> becomes
    /// offline (Synapse's guard against forgetful servers); otherwise the state is returned unchanged.
    /// </summary>
    public static UserPresence HandleRemoteTimeout(UserPresence state, long now, PresenceTimings timings) =>
        state.State != PresenceStates.Offline && now - state.LastUserSyncTs > (long)timings.FederationTimeout.TotalMilliseconds
            ? state with { State = PresenceStates.Offline, CurrentlyActive = false }
            : state;

    /// <summary>
    /// Whether an unchanged local state should be sent to other servers again, so that they do not time it out:
    /// not offline, and last sent at least <see cref="PresenceTimings.FederationPingInterval"/> ago.
    /// </summary>
    public static bool NeedsFederationPing(UserPresence state, long lastSentTs, long now, PresenceTimings timings) =>
        state.State != PresenceStates.Offline && now - lastSentTs >= (long)timings.FederationPingInterval.TotalMilliseconds;

    /// <summary>Sets <c>currently_active</c>: online and active within the granularity.</summary>
    public static UserPresence WithCurrentlyActive(UserPresence state, long now, PresenceTimings timings)
    {
        var active = state.State == PresenceStates.Online && now - state.LastActiveTs < (long)timings.LastActiveGranularity.TotalMilliseconds;
        return active == state.CurrentlyActive ? state : state with { CurrentlyActive = active };
    }

    /// <summary>Whether a change should be persisted and announced (Synapse's <c>should_notify</c> for local users).</summary>
    public static bool ShouldNotify(UserPresence previous, UserPresence next, PresenceTimings timings)
    {
        if (previous.StatusMsg != next.StatusMsg || previous.State != next.State)
        {
            return true;
        }

        var granularity = (long)timings.LastActiveGranularity.TotalMilliseconds;
        if (previous.State == PresenceStates.Online)
        {
            if (previous.CurrentlyActive != next.CurrentlyActive)
            {
                return true;
            }

            // While currently active, last-active bumps are implied and not announced.
            return next.LastActiveTs - previous.LastActiveTs > granularity && !next.CurrentlyActive;
        }

        return next.LastActiveTs - previous.LastActiveTs > granularity;
    }
}
