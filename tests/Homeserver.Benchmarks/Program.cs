using BenchmarkDotNet.Running;

namespace Homeserver.Benchmarks;

/// <summary>
/// Runs the benchmarks: <c>dotnet run -c Release --project tests/Homeserver.Benchmarks -- --filter '*'</c>.
/// Measurements that are not timings have their own command (see <see cref="SyncMeasurements"/>):
/// <c>dotnet run -c Release --project tests/Homeserver.Benchmarks -- idle-polls 2000</c>.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (SyncMeasurements.TryRun(args) is { } measurement)
        {
            return await measurement;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
