using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Homeserver.Benchmarks;

// dotnet run -c Release --project tests/Homeserver.Benchmarks -- [BenchmarkDotNet arguments, e.g. --filter '*Room*']
// dotnet run -c Release --project tests/Homeserver.Benchmarks -- --rooms [seconds] [messages] [joins]
//     sends/s with 1 and 8 senders, database size per 100k messages, /messages deep in the room, bytes per state change.
if (args.Length > 0 && args[0] == "--rooms")
{
    await RoomLoad.RunAsync(args);
    return 0;
}

// In-process: the benchmarks start a server and a database themselves, which a separate generated process cannot share.
var job = Job.Default
    .WithToolchain(InProcessEmitToolchain.Instance)
    .WithMinIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250))
    .WithWarmupCount(5)
    .WithIterationCount(10)
    .WithId("InProcess");
var config = DefaultConfig.Instance.AddJob(job);
BenchmarkSwitcher.FromAssembly(typeof(RoomSendBenchmarks).Assembly).Run(args, config);
return 0;
