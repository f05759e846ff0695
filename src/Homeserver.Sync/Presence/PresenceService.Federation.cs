using System.Text.Json;
using Homeserver.Core;
using Homeserver.Rooms;
using Homeserver.Sync.Federation;
using Microsoft.Extensions.Logging;

namespace Homeserver.Sync.Presence;

/// <summary>Presence across servers (server-server API, "Presence"): what we send, and other servers' users.</summary>
public sealed partial class PresenceService
{
    /// <summary>
    /// Applies one update of an <c>m.presence</c> EDU that <see cref="PresenceEduHandler"/> has checked (the user belongs
    /// to the origin and shares a room with one of our users). Announced to our users like a local change when
    /// <see cref="PresenceRules.ShouldNotify"/> says so; either way it restarts the user's federation timeout.
    /// </summary>
    public async Task ApplyRemoteAsync(PresenceEdu update, CancellationToken ct)
    {
        if (MatrixId.ServerOf(update.UserId) == _serverName)
        {
            return;
        }

        await UpdateAsync(update.UserId, (_, prev, now) => prev with
        {
            State = update.State,
            StatusMsg = update.StatusMsg,
            LastActiveTs = update.LastActiveAgo is { } ago ? Math.Max(0, now - ago) : prev.LastActiveTs,
            CurrentlyActive = update.CurrentlyActive,
            LastUserSyncTs = now,
        }, ct);
    }

    /// <summary>Under the lock: other servers' users are kept in memory only while their timeout runs (the table has the rest).</summary>
    private void ForgetIfRemoteAndOffline(Entry entry, UserPresence next, bool local)
    {
        if (!local && next.State == PresenceStates.Offline && _users.TryGetValue(next.UserId, out var kept) && kept == entry)
        {
            _users.Remove(next.UserId);
        }
    }

    /// <summary>Queues an <c>m.presence</c> EDU of local users for the given servers (ours is skipped).</summary>
    private void Federate(IReadOnlyList<UserPresence> states, IReadOnlyList<string> servers, long now)
    {
        if (servers.Count > 0 && states.Count > 0)
        {
            _edus.Send(servers, EphemeralEdus.Presence, EphemeralEdus.BuildPresence(states, now));
        }
    }

    /// <summary>The servers other than ours of these users.</summary>
    private List<string> OtherServersOf(IEnumerable<string> users) =>
        users.Select(MatrixId.ServerOf).OfType<string>().Where(s => s != _serverName).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>
    /// After joins (as Synapse's presence handler does on state deltas): the presence of our users who joined goes to
    /// the room's other servers, and a server whose first user joined gets the presence of our users in the room.
    /// A join that only changes a profile may repeat this, which costs one EDU and changes nothing.
    /// </summary>
    private async Task SendOnJoinAsync(string roomId, List<string> joinedUsers)
    {
        try
        {
            var members = await _audience.GetJoinedAsync(roomId, CancellationToken.None);
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var localJoiners = joinedUsers.Where(u => MatrixId.ServerOf(u) == _serverName && members.Contains(u)).Distinct().ToList();
            if (localJoiners.Count > 0)
            {
                var states = (await GetCurrentAsync(localJoiners, CancellationToken.None)).Values.ToList();
                Federate(states, OtherServersOf(members), now);
            }

            var newServers = joinedUsers
                .Where(u => MatrixId.ServerOf(u) != _serverName && members.Contains(u))
                .GroupBy(u => MatrixId.ServerOf(u)!, StringComparer.Ordinal)
                .Where(g => !members.Any(m => MatrixId.ServerOf(m) == g.Key && !g.Contains(m, StringComparer.Ordinal)))
                .Select(g => g.Key)
                .ToList();
            if (newServers.Count > 0)
            {
                var locals = (await _audience.GetLocalJoinedAsync(roomId, CancellationToken.None)).Except(localJoiners).ToList();
                var week = (long)TimeSpan.FromDays(7).TotalMilliseconds;

                // As Synapse: leave out offline users with nothing to say (no status, not active for a week).
                var states = (await GetCurrentAsync(locals, CancellationToken.None)).Values
                    .Where(p => p.State != PresenceStates.Offline || !string.IsNullOrEmpty(p.StatusMsg) || now - p.LastActiveTs < week)
                    .OrderBy(p => p.UserId, StringComparer.Ordinal)
                    .ToList();
                Federate(states, newServers, now);
            }
        }
        catch (Exception e)
        {
            LogJoinPresenceFailed(e, roomId);
        }
    }

    private static bool IsJoin(Pdu ev) =>
        ev.Content.ValueKind == JsonValueKind.Object && ev.Content.TryGetProperty("membership", out var m)
        && m.ValueKind == JsonValueKind.String && m.GetString() == Membership.Join;

    /// <summary>
    /// Once per process: other servers' users persisted as not offline get their federation timeout again, counted from
    /// now (the pings they sent while we were down, or not persisted, are unknown).
    /// </summary>
    private async Task LoadRemoteAsync()
    {
        try
        {
            var active = await _store.GetActiveRemoteAsync(_serverName, CancellationToken.None);
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            lock (_lock)
            {
                foreach (var p in active)
                {
                    var entry = GetOrAddEntry(p.UserId);
                    entry.Current ??= p with { LastUserSyncTs = Math.Max(p.LastUserSyncTs, now) };
                }
            }
        }
        catch (Exception e)
        {
            Volatile.Write(ref _remoteLoaded, 0);
            LogLoadRemoteFailed(e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not send presence to the servers of {RoomId} after a join")]
    private partial void LogJoinPresenceFailed(Exception e, string roomId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not load the presence of other servers' users (retried on the next tick)")]
    private partial void LogLoadRemoteFailed(Exception e);
}
