using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core.Federation;
using Homeserver.Crypto;
using Homeserver.Core.Streams;
using Homeserver.Federation.Client;
using Homeserver.Federation.Sending;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Homeserver.Federation.Tests;

/// <summary>The outbound queue: backoff of a failing destination, catch-up from the stored position, stored EDUs.</summary>
public sealed class FederationSenderTests : IAsyncDisposable
{
    private const string Remote = "remote.example";

    private sealed class MemorySenderStore : IFederationSenderStore
    {
        private long _eduIds;

        public List<OutboundPdu> Pdus { get; } = [];

        public Dictionary<string, DestinationState> States { get; } = new(StringComparer.Ordinal);

        public List<(string Destination, OutboundEdu Edu, long CreatedTs)> Edus { get; } = [];

        public Task<IReadOnlyList<string>> GetActiveDestinationsAsync(string ourServer, CancellationToken ct)
        {
            lock (this)
            {
                return Task.FromResult<IReadOnlyList<string>>(States.Keys.Union(Edus.Select(e => e.Destination)).ToList());
            }
        }

        public Task<DestinationState?> GetDestinationAsync(string destination, CancellationToken ct)
        {
            lock (this)
            {
                return Task.FromResult(States.GetValueOrDefault(destination));
            }
        }

        public Task SaveDestinationAsync(DestinationState state, CancellationToken ct)
        {
            lock (this)
            {
                States[state.Destination] = state;
            }

            return Task.CompletedTask;
        }

        public Task<IReadOnlyList<OutboundPdu>> GetPendingPdusAsync(string destination, string ourServer, long afterStream, long upToStream, int limit, CancellationToken ct)
        {
            lock (this)
            {
                return Task.FromResult<IReadOnlyList<OutboundPdu>>(Pdus.Where(p => p.StreamOrdering > afterStream && p.StreamOrdering <= upToStream)
                    .OrderBy(p => p.StreamOrdering).Take(limit).ToList());
            }
        }

        public Task AddEdusAsync(IReadOnlyCollection<string> destinations, string eduType, string contentJson, long nowTs, CancellationToken ct)
        {
            lock (this)
            {
                foreach (var d in destinations)
                {
                    Edus.Add((d, new OutboundEdu(++_eduIds, eduType, contentJson), nowTs));
                }
            }

            return Task.CompletedTask;
        }

        public Task<IReadOnlyList<OutboundEdu>> GetPendingEdusAsync(string destination, int limit, CancellationToken ct)
        {
            lock (this)
            {
                return Task.FromResult<IReadOnlyList<OutboundEdu>>(Edus.Where(e => e.Destination == destination).Select(e => e.Edu).OrderBy(e => e.EduId).Take(limit).ToList());
            }
        }

        public Task DeleteEdusAsync(string destination, long upToEduId, CancellationToken ct)
        {
            lock (this)
            {
                Edus.RemoveAll(e => e.Destination == destination && e.Edu.EduId <= upToEduId);
            }

            return Task.CompletedTask;
        }

        public Task<int> DeleteEdusBeforeAsync(long beforeTs, CancellationToken ct)
        {
            lock (this)
            {
                return Task.FromResult(Edus.RemoveAll(e => e.CreatedTs < beforeTs));
            }
        }
    }

    private readonly MemorySenderStore _store = new();
    private readonly FakeFederationClient _client = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-03-01T00:00:00Z", CultureInfo.InvariantCulture));
    private readonly CancellationTokenSource _stop = new();
    private FederationSender? _sender;
    private volatile bool _up = true;

    /// <summary>The transactions the destination accepted: PDU event IDs and EDU types.</summary>
    private readonly List<(List<string> Pdus, List<string> Edus)> _accepted = [];

    public FederationSenderTests()
    {
        _client.Answer = (method, destination, path, body) =>
        {
            if (!_up)
            {
                throw new FederationException("connection refused");
            }

            var pdus = body!.Value.GetProperty("pdus").EnumerateArray().Select(p => p.GetProperty("event_id").GetString()!).ToList();
            var edus = body.Value.TryGetProperty("edus", out var e) ? e.EnumerateArray().Select(x => x.GetProperty("edu_type").GetString()!).ToList() : [];
            lock (_accepted)
            {
                _accepted.Add((pdus, edus));
            }

            return JsonSerializer.SerializeToElement(new JsonObject { ["pdus"] = new JsonObject() });
        };
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_sender is not null)
        {
            await _sender.StopAsync(CancellationToken.None);
            _sender.Dispose();
        }

        _stop.Dispose();
    }

    private void AddPdus(int count)
    {
        for (var i = 1; i <= count; i++)
        {
            _store.Pdus.Add(new OutboundPdu($"$e{i}", i, $$"""{"event_id": "$e{{i}}"}""", "10"));
        }
    }

    private async Task<FederationSender> StartAsync(long streamPosition)
    {
        var config = TestConfig.Create();
        _sender = new FederationSender(config, _store, _client, new Homeserver.Rooms.Events.EventFactory(config.ServerName, Ed25519SigningKey.Generate("t")), new StreamPositions(streamPosition), _time, NullLogger<FederationSender>.Instance);
        await _sender.StartAsync(_stop.Token);
        return _sender;
    }

    private int Attempts => _client.Requests.Count(r => r.Path.StartsWith("/_matrix/federation/v1/send/", StringComparison.Ordinal));

    /// <summary>Lets fake time pass in small steps until the condition holds.</summary>
    private async Task PassTimeUntilAsync(Func<bool> done, TimeSpan step, TimeSpan max)
    {
        var passed = TimeSpan.Zero;
        while (!done())
        {
            if (passed > max)
            {
                throw new TimeoutException("the condition never held");
            }

            await Task.Delay(2);
            _time.Advance(step);
            passed += step;
        }
    }

    private async Task PassTimeAsync(TimeSpan total, TimeSpan step)
    {
        for (var passed = TimeSpan.Zero; passed < total; passed += step)
        {
            await Task.Delay(2);
            _time.Advance(step);
        }
    }

    [Fact]
    public async Task A_failing_destination_is_retried_with_a_growing_interval_and_then_gets_everything_it_missed_in_order()
    {
        AddPdus(3);
        _store.States[Remote] = new DestinationState(Remote, 0, null, 0);
        _up = false;
        var sender = await StartAsync(3);

        // One attempt: the first try and two quick retries, then the destination is marked down for ~10 s.
        await PassTimeUntilAsync(() => _store.States[Remote].RetryLastTs is not null, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1));
        Attempts.Should().Be(3);
        var first = _store.States[Remote].RetryIntervalMs;
        first.Should().BeInRange(10_000, 12_000);

        // Nothing is tried while it is down, even when there is something new to send.
        await sender.SendPersistentAsync([Remote], "m.direct_to_device", JsonSerializer.SerializeToElement(new JsonObject { ["message_id"] = "m1" }), CancellationToken.None);
        await PassTimeAsync(TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(500));
        Attempts.Should().Be(3);

        // The next attempt fails too: the interval doubles (plus up to a fifth of jitter).
        await PassTimeUntilAsync(() => _store.States[Remote].RetryIntervalMs > first, TimeSpan.FromMilliseconds(250), TimeSpan.FromMinutes(2));
        var second = _store.States[Remote].RetryIntervalMs;
        second.Should().BeInRange(2 * first, 2 * first + 2 * first / 5);
        _store.Edus.Should().ContainSingle("a stored EDU stays until a transaction carrying it is acknowledged");

        // It comes back: at the next retry it gets the missed events in order, and the stored EDU.
        _up = true;
        await PassTimeUntilAsync(() => _store.States[Remote].LastSentStream == 3, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5));
        _accepted.Should().ContainSingle();
        _accepted[0].Pdus.Should().Equal("$e1", "$e2", "$e3");
        _accepted[0].Edus.Should().Equal("m.direct_to_device");
        _store.States[Remote].RetryLastTs.Should().BeNull();
        _store.States[Remote].RetryIntervalMs.Should().Be(0);
        _store.Edus.Should().BeEmpty();
    }

    [Fact]
    public async Task A_backlog_goes_out_in_transactions_of_at_most_50_events_in_stream_order()
    {
        AddPdus(120);
        _store.States[Remote] = new DestinationState(Remote, 0, null, 0);
        await StartAsync(120);

        await PassTimeUntilAsync(() => _store.States[Remote].LastSentStream == 120, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1));
        _accepted.Select(t => t.Pdus.Count).Should().Equal(50, 50, 20);
        _accepted.SelectMany(t => t.Pdus).Should().Equal(Enumerable.Range(1, 120).Select(i => $"$e{i}"));
    }

    [Fact]
    public async Task Catch_up_starts_after_the_last_acknowledged_event()
    {
        AddPdus(10);
        _store.States[Remote] = new DestinationState(Remote, 7, null, 0);
        await StartAsync(10);

        await PassTimeUntilAsync(() => _store.States[Remote].LastSentStream == 10, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1));
        _accepted.SelectMany(t => t.Pdus).Should().Equal("$e8", "$e9", "$e10");
    }

    [Fact]
    public async Task A_destination_that_contacts_us_while_marked_down_is_sent_to_at_once()
    {
        AddPdus(2);
        _store.States[Remote] = new DestinationState(Remote, 0, _time.GetUtcNow().ToUnixTimeMilliseconds(), (long)TimeSpan.FromHours(6).TotalMilliseconds);
        var sender = await StartAsync(2);
        await PassTimeAsync(TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(1));
        Attempts.Should().Be(0);

        await sender.ResetBackoffAsync(Remote, CancellationToken.None);
        await PassTimeUntilAsync(() => _store.States[Remote].LastSentStream == 2, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1));
        _accepted.SelectMany(t => t.Pdus).Should().Equal("$e1", "$e2");
    }

    [Fact]
    public async Task Stored_edus_go_out_in_order_before_best_effort_ones_and_never_to_ourselves()
    {
        var sender = await StartAsync(0);
        await sender.SendPersistentAsync([Remote, TestConfig.Us], "m.device_list_update", JsonSerializer.SerializeToElement(new JsonObject { ["n"] = 1 }), CancellationToken.None);
        _store.Edus.Should().ContainSingle().Which.Destination.Should().Be(Remote);

        await PassTimeUntilAsync(() => _store.Edus.Count == 0, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1));
        _accepted.SelectMany(t => t.Edus).Should().Equal("m.device_list_update");
    }

    [Fact]
    public async Task Stored_edus_older_than_a_week_are_dropped()
    {
        _up = false;
        var sender = await StartAsync(0);
        await sender.SendPersistentAsync([Remote], "m.direct_to_device", JsonSerializer.SerializeToElement(new JsonObject { ["n"] = 1 }), CancellationToken.None);
        await PassTimeUntilAsync(() => _store.Edus.Count == 0, TimeSpan.FromMinutes(30), FederationSender.PersistentEduLifetime + TimeSpan.FromHours(3));
        _accepted.Should().BeEmpty();
    }
}
