using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Federation;
using Homeserver.Core.Streams;
using Homeserver.Federation.Client;
using Homeserver.Rooms;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Homeserver.Federation.Sending;

/// <summary>
/// Sends our events and EDUs to the other servers in our rooms (server-server API, "Transactions"): one worker per
/// destination, transactions of at most 50 PDUs and 100 EDUs, in stream order.
///
/// What a destination still needs is derived from the events table (everything after the stream position it last
/// acknowledged), so nothing is lost across our restart or its outage: when it comes back, it gets what it missed.
/// A failing destination is retried with exponential backoff and jitter (Polly, within an attempt) and then marked
/// down with a persisted, growing retry interval (up to a day). Most EDUs are held in memory and are best effort;
/// those end-to-end encryption cannot lose (send-to-device, device lists) are stored first
/// (<see cref="SendPersistentAsync"/>), go out before the in-memory ones and are deleted once acknowledged.
/// </summary>
public sealed partial class FederationSender(
    HomeserverConfig config,
    IFederationSenderStore store,
    IFederationClient client,
    EventFactory signer,
    StreamPositions streams,
    TimeProvider time,
    ILogger<FederationSender> logger) : BackgroundService, IRoomEventListener, IEduSender
{
    public const int MaxPdusPerTransaction = 50;
    public const int MaxEdusPerTransaction = 100;
    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromDays(1);

    /// <summary>Persisted EDUs older than this are dropped: a destination gone for a week rebuilds its state when it comes back.</summary>
    public static readonly TimeSpan PersistentEduLifetime = TimeSpan.FromDays(7);

    private readonly ConcurrentDictionary<string, Destination> _destinations = new(StringComparer.Ordinal);
    private readonly ResiliencePipeline _attempt = new ResiliencePipelineBuilder { TimeProvider = time }
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<FederationException>(e => e.StatusCode is null or >= 500 or 429),
            MaxRetryAttempts = 2,
            Delay = TimeSpan.FromMilliseconds(500),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
        })
        .Build();

    private long _transactionCounter = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    private CancellationToken _stopping = CancellationToken.None;

    /// <summary>True once the sender runs; events persisted before are found by the catch-up at start.</summary>
    public bool Started { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _stopping = stoppingToken;
        Started = true;
        try
        {
            foreach (var destination in await store.GetActiveDestinationsAsync(config.ServerName, stoppingToken))
            {
                Wake(destination, null);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogStartFailed(e);
        }

        using var timer = new PeriodicTimer(TimeSpan.FromHours(1), time);
        try
        {
            do
            {
                try
                {
                    var dropped = await store.DeleteEdusBeforeAsync((time.GetUtcNow() - PersistentEduLifetime).ToUnixTimeMilliseconds(), stoppingToken);
                    if (dropped > 0)
                    {
                        LogEdusExpired(dropped, PersistentEduLifetime);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogCleanupFailed(e);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    public void OnPersisted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head)
    {
        var local = events.Where(e => !e.SoftFailed && e.StreamOrdering is not null && MatrixId.ServerOf(e.Event.Sender) == config.ServerName).ToList();
        if (local.Count == 0)
        {
            return;
        }

        var servers = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in head.State.Keys)
        {
            if (key.Type == EventTypes.Member && MatrixId.ServerOf(key.Key) is { } server && server != config.ServerName)
            {
                servers.Add(server);
            }
        }

        foreach (var e in local)
        {
            if (e.Event.Type == EventTypes.Member && e.Event.StateKey is { } target && MatrixId.ServerOf(target) is { } ts && ts != config.ServerName)
            {
                servers.Add(ts);
            }
        }

        var first = local.Min(e => e.StreamOrdering!.Value);
        foreach (var server in servers)
        {
            Wake(server, first - 1);
        }
    }

    public void Send(IEnumerable<string> destinations, string eduType, JsonElement content)
    {
        foreach (var destination in destinations.Distinct())
        {
            if (destination == config.ServerName || !client.MayContact(destination))
            {
                continue;
            }

            var d = _destinations.GetOrAdd(destination, name => new Destination(name));
            d.Edus.Enqueue(new JsonObject { ["edu_type"] = eduType, ["content"] = JsonNode.Parse(content.GetRawText()) });
            Wake(destination, null);
        }
    }

    public async Task SendPersistentAsync(IEnumerable<string> destinations, string eduType, JsonElement content, CancellationToken ct)
    {
        var targets = destinations.Distinct().Where(d => d != config.ServerName && client.MayContact(d)).ToList();
        if (targets.Count == 0)
        {
            return;
        }

        await store.AddEdusAsync(targets, eduType, content.GetRawText(), time.GetUtcNow().ToUnixTimeMilliseconds(), ct);
        foreach (var destination in targets)
        {
            Wake(destination, null);
        }
    }

    /// <summary>Makes sure the destination's worker runs. <paramref name="startAfter"/> seeds a destination seen for the first time.</summary>
    private void Wake(string destinationName, long? startAfter)
    {
        if (!client.MayContact(destinationName))
        {
            return;
        }

        var destination = _destinations.GetOrAdd(destinationName, name => new Destination(name));
        if (startAfter is { } s)
        {
            destination.SeedIfNew(s);
        }

        destination.Pending = true;
        if (Interlocked.CompareExchange(ref destination.Running, 1, 0) == 0)
        {
            _ = Task.Run(() => RunAsync(destination));
        }
    }

    private async Task RunAsync(Destination destination)
    {
        try
        {
            var state = await store.GetDestinationAsync(destination.Name, _stopping)
                ?? new DestinationState(destination.Name, destination.Seed ?? streams.Current, null, 0);
            while (!_stopping.IsCancellationRequested)
            {
                destination.Pending = false;
                if (state.RetryLastTs is { } last && last + state.RetryIntervalMs > time.GetUtcNow().ToUnixTimeMilliseconds())
                {
                    // Down: try again when the interval has passed.
                    var wait = TimeSpan.FromMilliseconds(last + state.RetryIntervalMs - time.GetUtcNow().ToUnixTimeMilliseconds());
                    ScheduleRetry(destination, wait);
                    return;
                }

                var pdus = await store.GetPendingPdusAsync(destination.Name, config.ServerName, state.LastSentStream, streams.Current, MaxPdusPerTransaction, _stopping);
                var stored = await store.GetPendingEdusAsync(destination.Name, MaxEdusPerTransaction, _stopping);
                var storedEdus = new List<JsonObject>(stored.Count);
                foreach (var e in stored)
                {
                    storedEdus.Add(new JsonObject { ["edu_type"] = e.EduType, ["content"] = JsonNode.Parse(e.ContentJson) });
                }

                var edus = new List<JsonObject>();
                while (storedEdus.Count + edus.Count < MaxEdusPerTransaction && destination.Edus.TryDequeue(out var edu))
                {
                    edus.Add(edu);
                }

                if (pdus.Count == 0 && storedEdus.Count == 0 && edus.Count == 0)
                {
                    if (!destination.Pending)
                    {
                        return;
                    }

                    continue;
                }

                try
                {
                    await _attempt.ExecuteAsync(async ct => await SendTransactionAsync(destination.Name, pdus, [.. storedEdus, .. edus], ct), _stopping);
                    if (stored.Count > 0)
                    {
                        await store.DeleteEdusAsync(destination.Name, stored[^1].EduId, _stopping);
                    }

                    state = state with
                    {
                        LastSentStream = pdus.Count > 0 ? pdus[^1].StreamOrdering : state.LastSentStream,
                        RetryLastTs = null,
                        RetryIntervalMs = 0,
                    };
                    await store.SaveDestinationAsync(state, _stopping);
                }
                catch (FederationException e)
                {
                    var interval = state.RetryIntervalMs == 0 ? FirstRetry : TimeSpan.FromMilliseconds(Math.Min(state.RetryIntervalMs * 2, MaxRetry.TotalMilliseconds));
                    interval += TimeSpan.FromMilliseconds(Random.Shared.Next(0, (int)Math.Min(int.MaxValue, interval.TotalMilliseconds / 5)));
                    state = state with { RetryLastTs = time.GetUtcNow().ToUnixTimeMilliseconds(), RetryIntervalMs = (long)interval.TotalMilliseconds };
                    await store.SaveDestinationAsync(state, _stopping);
                    LogDestinationDown(destination.Name, interval, e.Message);

                    // EDUs are best effort, but keep the ones of this attempt for the next one.
                    foreach (var edu in edus)
                    {
                        destination.Edus.Enqueue(edu);
                    }

                    ScheduleRetry(destination, interval);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Shutting down: the next start catches up from the stored position.
        }
        catch (Exception e)
        {
            LogWorkerFailed(e, destination.Name);
            ScheduleRetry(destination, FirstRetry);
        }
        finally
        {
            Volatile.Write(ref destination.Running, 0);
            if (destination.Pending && !_stopping.IsCancellationRequested)
            {
                Wake(destination.Name, null);
            }
        }
    }

    /// <summary>Clears a destination's backoff (e.g. when it contacted us, so it is evidently up) and sends what it missed.</summary>
    public async Task ResetBackoffAsync(string destination, CancellationToken ct)
    {
        var state = await store.GetDestinationAsync(destination, ct);
        if (state is { RetryLastTs: not null })
        {
            await store.SaveDestinationAsync(state with { RetryLastTs = null, RetryIntervalMs = 0 }, ct);
            Wake(destination, null);
        }
    }

    private void ScheduleRetry(Destination destination, TimeSpan after)
    {
        _ = Task.Delay(after, time, _stopping).ContinueWith(
            t =>
            {
                if (!t.IsCanceled)
                {
                    Wake(destination.Name, null);
                }
            },
            TaskScheduler.Default);
    }

    private async Task SendTransactionAsync(string destination, IReadOnlyList<OutboundPdu> pdus, IReadOnlyList<JsonObject> edus, CancellationToken ct)
    {
        var pduArray = new JsonArray();
        foreach (var p in pdus)
        {
            // With our signature, which the room's writer left for now (EventFactory.BuildLocal).
            using var stored = JsonDocument.Parse(p.Json);
            var pdu = RoomVersion.Find(p.RoomVersion) is { } version ? signer.ForFederation(p.EventId, stored.RootElement, version) : stored.RootElement;
            pduArray.Add(JsonNode.Parse(pdu.GetRawText()));
        }

        var body = new JsonObject
        {
            ["origin"] = config.ServerName,
            ["origin_server_ts"] = time.GetUtcNow().ToUnixTimeMilliseconds(),
            ["pdus"] = pduArray,
        };
        if (edus.Count > 0)
        {
            body["edus"] = new JsonArray([.. edus.Select(e => (JsonNode)e.DeepClone())]);
        }

        // Transaction IDs are digits only (SyTest's fake servers insist) and never reused by this process.
        var txnId = Interlocked.Increment(ref _transactionCounter).ToString(CultureInfo.InvariantCulture);
        await client.PutAsync(destination, $"/_matrix/federation/v1/send/{txnId}", JsonSerializer.SerializeToElement(body), ct);
    }

    private sealed class Destination(string name)
    {
        public string Name { get; } = name;

        public ConcurrentQueue<JsonObject> Edus { get; } = new();

        public long? Seed { get; private set; }

        public volatile bool Pending;

        public int Running;

        public void SeedIfNew(long startAfter)
        {
            if (Seed is null || startAfter < Seed)
            {
                Seed = startAfter;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Destination {Destination} is down; retrying in {Interval}: {Reason}")]
    private partial void LogDestinationDown(string destination, TimeSpan interval, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Federation sender for {Destination} failed")]
    private partial void LogWorkerFailed(Exception e, string destination);

    [LoggerMessage(Level = LogLevel.Error, Message = "Federation sender could not start its catch-up")]
    private partial void LogStartFailed(Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped {Count} stored EDUs older than {Lifetime}: their destinations never took them")]
    private partial void LogEdusExpired(int count, TimeSpan lifetime);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not drop expired stored EDUs")]
    private partial void LogCleanupFailed(Exception e);
}
