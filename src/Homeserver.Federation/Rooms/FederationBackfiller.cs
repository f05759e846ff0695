using System.Collections.Concurrent;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Federation.Events;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation.Rooms;

/// <summary>
/// Fetches a room's history from the other servers in it when <c>/messages</c> runs out of what we hold (outbound
/// backfill). The servers are tried one after another, the room creator's first (it holds the room from its start),
/// then the others by how many of the room's joined members they host, until one gives events we did not have.
/// </summary>
public sealed partial class FederationBackfiller(
    RoomService rooms,
    IRoomStore store,
    IRoomReadStore reads,
    FederationEventHandler handler,
    HomeserverConfig config,
    TimeProvider time,
    ILogger<FederationBackfiller> logger) : IRemoteHistory
{
    /// <summary>How many servers one backfill tries before giving up.</summary>
    public const int MaxServersTried = 5;

    /// <summary>How long one backfill may go on trying servers: the client's page waits for it.</summary>
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(30);

    /// <summary>After a backfill from some extremities that found nothing, how long they are not asked for again.</summary>
    public static readonly TimeSpan QuietAfterNothing = TimeSpan.FromMinutes(1);

    // One backfill per room at a time: concurrent pages of one room wait for it and then read what it stored.
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _roomLocks = new(StringComparer.Ordinal);

    // Extremities whose last backfill gave nothing (every server failed or had nothing before them), with when that was:
    // each page that reaches such a gap would otherwise wait on the same servers again.
    private readonly ConcurrentDictionary<string, DateTimeOffset> _fruitless = new(StringComparer.Ordinal);

    public async Task<bool> BackfillAsync(RoomRecord room, IReadOnlyList<string> extremities, int limit, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        extremities = [.. extremities.Where(id => !_fruitless.TryGetValue(id, out var at) || now - at >= QuietAfterNothing)];
        if (extremities.Count == 0)
        {
            return false;
        }

        var gate = _roomLocks.GetOrAdd(room.RoomId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            // Another page may have backfilled these extremities while this one waited: then there is news to read.
            var meta = await store.GetEventMetaAsync(extremities, ct);
            var wanted = extremities.Where(id => meta.GetValueOrDefault(id)?.Placed != true).ToList();
            if (wanted.Count == 0)
            {
                return true;
            }

            var started = time.GetTimestamp();
            foreach (var server in (await CandidateServersAsync(room, ct)).Take(MaxServersTried))
            {
                if (time.GetElapsedTime(started) >= Budget)
                {
                    break;
                }

                try
                {
                    if (await handler.BackfillFromAsync(server, room, wanted, limit, ct) > 0)
                    {
                        return true;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    // Whatever a server answers (or fails to), the client's page is answered with what we hold.
                    LogServerFailed(room.RoomId, server, e.Message);
                }
            }

            Remember(wanted);
            return false;
        }
        finally
        {
            gate.Release();
        }
    }

    private void Remember(IReadOnlyList<string> fruitless)
    {
        var now = time.GetUtcNow();
        if (_fruitless.Count > 10_000)
        {
            // Forget what is past its quiet time, so that the memory stays bounded by the gaps of the last minute.
            foreach (var (id, at) in _fruitless)
            {
                if (now - at >= QuietAfterNothing)
                {
                    _fruitless.TryRemove(id, out _);
                }
            }
        }

        foreach (var id in fruitless)
        {
            _fruitless[id] = now;
        }
    }

    /// <summary>The other servers with joined members in the room: the create event sender's first, then by members hosted.</summary>
    private async Task<List<string>> CandidateServersAsync(RoomRecord room, CancellationToken ct)
    {
        var members = await reads.GetMembersAsync(room.RoomNid, ct);
        var creatorServer = await CreatorServerAsync(room, ct);
        return members
            .Where(m => m.Membership == Membership.Join)
            .Select(m => MatrixId.ServerOf(m.UserId))
            .OfType<string>()
            .Where(server => server != config.ServerName)
            .GroupBy(server => server, StringComparer.Ordinal)
            .OrderByDescending(g => g.Key == creatorServer)
            .ThenByDescending(g => g.Count())
            .ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => g.Key)
            .ToList();
    }

    /// <summary>The server of the room's create event's sender (room IDs before v12 name it too; v12 ones do not).</summary>
    private async Task<string?> CreatorServerAsync(RoomRecord room, CancellationToken ct)
    {
        var head = await rooms.GetHeadAsync(room, ct);
        if (head.State.GetValueOrDefault(new StateKey(EventTypes.Create, string.Empty)) is not { } createId)
        {
            return null;
        }

        return (await rooms.GetEventsAsync([createId], ct)).GetValueOrDefault(createId) is { } create ? MatrixId.ServerOf(create.Sender) : null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Backfill of {RoomId} from {Server} failed: {Reason}")]
    private partial void LogServerFailed(string roomId, string server, string reason);
}
