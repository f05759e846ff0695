using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Homeserver.Benchmarks;
using Homeserver.Core.Configuration;

// dotnet run -c Release --project tests/Homeserver.Benchmarks -- [BenchmarkDotNet arguments, e.g. --filter '*']
// dotnet run -c Release --project tests/Homeserver.Benchmarks -- --load [seconds] [concurrency]
//     whoami under concurrent load with the token cache on and off: requests/s, latency percentiles and the
//     number of database commands per request.
// dotnet run -c Release --project tests/Homeserver.Benchmarks -- --rooms [seconds] [messages] [joins]
//     sends/s with 1 and 8 senders, database size per 100k messages, /messages deep in the room, bytes per state change.
// dotnet run -c Release --project tests/Homeserver.Benchmarks -- --wake [cycles]
//     the send-to-/sync wake-up cycle by cycle (median, p90) and the database commands of a woken sync.
// dotnet run -c Release --project tests/Homeserver.Benchmarks -- idle-polls 2000 (and the other sync measurements)
if (SyncMeasurements.TryRun(args) is { } measurement)
{
    return await measurement;
}

if (args.Length > 0 && args[0] == "--rooms")
{
    await RoomLoad.RunAsync(args);
    return 0;
}

if (args.Length > 0 && args[0] == "--wake")
{
    await WakeUpLoad.RunAsync(args);
    return 0;
}

if (args.Length > 0 && args[0] == "--load")
{
    var seconds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10;
    var concurrency = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 16;
    foreach (var cache in new[] { true, false })
    {
        await LoadAsync(cache, TimeSpan.FromSeconds(seconds), concurrency);
    }

    return 0;
}

// In-process: the benchmarks start a server and a database themselves, which a separate generated process cannot share.
var job = Job.Default
    .WithToolchain(InProcessEmitToolchain.Instance)
    .WithMinIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250))
    .WithWarmupCount(15)
    .WithIterationCount(20)
    .WithId("InProcess");
var config = DefaultConfig.Instance.AddJob(job);
BenchmarkSwitcher.FromAssembly(typeof(AuthenticatedRequestBenchmarks).Assembly).Run(args, config);
return 0;

static async Task LoadAsync(bool tokenCache, TimeSpan duration, int concurrency)
{
    await using var server = await BenchmarkServer.StartAsync(tokenCache, new PasswordHashingConfig { MemoryKib = 64, Iterations = 1 });
    var tokens = new List<string>();
    for (var i = 0; i < concurrency; i++)
    {
        tokens.Add((await server.RegisterAsync("load" + Guid.NewGuid().ToString("N")[..8], "password")).AccessToken);
    }

    // Warm up (JIT, connection pools, and the cache when it is on), then measure.
    await RunAsync(server, tokens, TimeSpan.FromSeconds(2));
    var commandsBefore = server.DatabaseCommands;
    var latencies = await RunAsync(server, tokens, duration);
    var commands = server.DatabaseCommands - commandsBefore;
    latencies.Sort();
    double Percentile(double p) => latencies[Math.Min(latencies.Count - 1, (int)(latencies.Count * p))];
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"whoami, token cache {(tokenCache ? "on " : "off")}: {latencies.Count / duration.TotalSeconds,8:F0} req/s with {concurrency} clients; " +
        $"latency p50 {Percentile(0.50),6:F3} ms, p99 {Percentile(0.99),6:F3} ms; database commands {commands} ({(double)commands / latencies.Count:F3} per request)"));
}

static async Task<List<double>> RunAsync(BenchmarkServer server, List<string> tokens, TimeSpan duration)
{
    var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
    var all = new List<double>[tokens.Count];
    await Task.WhenAll(tokens.Select(async (token, i) =>
    {
        var mine = all[i] = [];
        while (Stopwatch.GetTimestamp() < stopAt)
        {
            var start = Stopwatch.GetTimestamp();
            using var request = server.WhoAmI(token);
            using var response = await server.Client.SendAsync(request);
            response.EnsureSuccessStatusCode();
            mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
    }));
    return all.SelectMany(l => l).ToList();
}
