using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.NoEmit;
using Homeserver.TestKit;

namespace Homeserver.Benchmarks;

/// <summary>
/// The sync benchmarks run in process (the server, its PostgreSQL and the client in one process, over loopback
/// HTTP), with the median reported: the figures include HTTP and the client's reading of the answer.
/// </summary>
public sealed class SyncBenchmarkConfig : ManualConfig
{
    public SyncBenchmarkConfig()
    {
        AddJob(Job.Default.WithToolchain(InProcessNoEmitToolchain.Instance).WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(20));
        AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.Max);
        Options |= ConfigOptions.DisableOptimizationsValidator;
    }
}

/// <summary>Shared set-up: a real server on a fresh database, and raw HTTP helpers.</summary>
public abstract class SyncBenchmarkBase
{
    protected TestServer Server { get; private set; } = null!;

    protected async Task StartAsync()
    {
        Server = new TestServer();
        await Server.InitializeAsync();
    }

    protected Task<MatrixClient> NewUserAsync() => new MatrixClient(Server.Client).RegisterAsync();

    protected static HttpClient AuthedClient(TestServer server, MatrixClient user)
    {
        var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", user.AccessToken);
        return http;
    }

    protected static async Task<string> CreateRoomAsync(MatrixClient user, object body) =>
        (await user.PostAsync("/_matrix/client/v3/createRoom", body)).EnsureOk().Json.GetProperty("room_id").GetString()!;

    protected static async Task SendAsync(HttpClient http, string roomId, string body)
    {
        using var content = new StringContent(JsonSerializer.Serialize(new { msgtype = "m.text", body }), Encoding.UTF8, "application/json");
        using var response = await http.PutAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/send/m.room.message/{Guid.NewGuid():N}", content);
        response.EnsureSuccessStatusCode();
    }

    protected static async Task<string> NextBatchAsync(HttpClient http, string url)
    {
        using var doc = JsonDocument.Parse(await http.GetByteArrayAsync(url));
        return doc.RootElement.GetProperty("next_batch").GetString()!;
    }

    [GlobalCleanup]
    public async Task StopAsync() => await Server.DisposeAsync();
}

/// <summary>Initial <c>/sync</c> of a user in 100 rooms with 100 messages each (aim: under 200 ms median).</summary>
[Config(typeof(SyncBenchmarkConfig))]
public class InitialSyncBenchmarks : SyncBenchmarkBase
{
    private HttpClient _http = null!;

    [Params(100)]
    public int Rooms { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        await StartAsync();
        var user = await NewUserAsync();
        _http = AuthedClient(Server, user);
        var rooms = new List<string>();
        for (var i = 0; i < Rooms; i++)
        {
            rooms.Add(await CreateRoomAsync(user, new { name = $"Room {i}" }));
        }

        await Parallel.ForEachAsync(rooms, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (room, _) =>
        {
            for (var j = 0; j < 100; j++)
            {
                await SendAsync(_http, room, $"message {j}");
            }
        });
    }

    /// <summary>One initial sync (default filter: 10 events per room, full state, summaries, receipts, presence).</summary>
    [Benchmark]
    public async Task<int> InitialSync() => (await _http.GetByteArrayAsync("/_matrix/client/v3/sync?set_presence=offline")).Length;
}

/// <summary>
/// From sending a message to the wake-up of another member's parked long-poll (<see cref="SendAndWake"/>),
/// beside sending alone (<see cref="SendOnly"/>): the difference is the wake-up latency.
/// </summary>
[Config(typeof(SyncBenchmarkConfig))]
public class WakeUpBenchmarks : SyncBenchmarkBase
{
    private HttpClient _alice = null!;
    private HttpClient _bob = null!;
    private string _roomId = null!;
    private string _since = null!;
    private Task<byte[]>? _poll;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        await StartAsync();
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        _roomId = await CreateRoomAsync(alice, new { preset = "public_chat" });
        (await bob.PostAsync($"/_matrix/client/v3/join/{Uri.EscapeDataString(_roomId)}", new { })).EnsureOk();
        _alice = AuthedClient(Server, alice);
        _bob = AuthedClient(Server, bob);
        _since = await NextBatchAsync(_bob, "/_matrix/client/v3/sync?set_presence=offline");
    }

    [IterationSetup(Target = nameof(SendAndWake))]
    public void ParkPoll()
    {
        _poll = _bob.GetByteArrayAsync($"/_matrix/client/v3/sync?set_presence=offline&timeout=60000&since={Uri.EscapeDataString(_since)}");

        // Let the request reach the server and park.
        Thread.Sleep(50);
    }

    [Benchmark]
    public async Task SendAndWake()
    {
        await SendAsync(_alice, _roomId, "wake up");
        using var doc = JsonDocument.Parse(await _poll!);
        _since = doc.RootElement.GetProperty("next_batch").GetString()!;
    }

    [Benchmark(Baseline = true)]
    public Task SendOnly() => SendAsync(_alice, _roomId, "no one waits");
}
