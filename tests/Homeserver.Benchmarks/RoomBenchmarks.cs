using BenchmarkDotNet.Attributes;

namespace Homeserver.Benchmarks;

/// <summary>PUT /send into one room over HTTP (real Kestrel and PostgreSQL): one sender, and eight at once.</summary>
public class RoomSendBenchmarks
{
    private RoomBenchmarkRoom _room = null!;

    [GlobalSetup]
    public void Setup() => _room = RoomBenchmarkRoom.StartAsync(8).GetAwaiter().GetResult();

    [GlobalCleanup]
    public void Cleanup() => _room.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Description = "one sender: PUT /send")]
    public Task<string> SendOne() => _room.SendAsync(0, "hello");

    /// <summary>Eight senders send one message each at the same time; the time reported is per message.</summary>
    [Benchmark(Description = "eight senders at once: PUT /send", OperationsPerInvoke = 8)]
    public Task SendEightConcurrently() => Task.WhenAll(Enumerable.Range(0, 8).Select(s => _room.SendAsync(s, "hello")));
}

/// <summary>GET /messages pages (50 events, backwards) from the middle of a room of 100,000 messages.</summary>
public class DeepMessagesBenchmarks
{
    private RoomBenchmarkRoom _room = null!;
    private string _middle = null!;
    private string _early = null!;

    [Params(100_000)]
    public int Events { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _room = RoomBenchmarkRoom.StartAsync(8).GetAwaiter().GetResult();
        var ids = _room.FillAsync(Events, 8).GetAwaiter().GetResult();
        _middle = _room.TokenBeforeAsync(ids[Events / 2]).GetAwaiter().GetResult();
        _early = _room.TokenBeforeAsync(ids[Events / 20]).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _room.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Description = "/messages page of 50 from the middle")]
    public Task<int> PageFromMiddle() => _room.PageAsync(_middle, 50);

    [Benchmark(Description = "/messages page of 50 near the start")]
    public Task<int> PageNearStart() => _room.PageAsync(_early, 50);
}
