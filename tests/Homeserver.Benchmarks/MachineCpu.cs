using System.Globalization;

namespace Homeserver.Benchmarks;

/// <summary>
/// The whole machine's CPU time from <c>/proc/stat</c> (Linux): the server, the load generator and PostgreSQL share the
/// cores, so the CPU a send costs all of them together is steadier than events per second, which moves ±20% from run to
/// run here with whatever else the host runs (steal time is reported apart for that reason).
/// </summary>
internal readonly record struct MachineCpu(long Busy, long Idle, long Steal)
{
    /// <summary>Linux's USER_HZ: /proc/stat counts in hundredths of a second.</summary>
    private const double MillisecondsPerTick = 10;

    public static MachineCpu? Read()
    {
        try
        {
            // cpu  user nice system idle iowait irq softirq steal guest guest_nice
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 9 || fields[0] != "cpu")
            {
                return null;
            }

            var v = fields.Skip(1).Take(8).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
            return new MachineCpu(v[0] + v[1] + v[2] + v[5] + v[6], v[3] + v[4], v[7]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>A line for a phase of <paramref name="sends"/> sends between two readings, or nothing off Linux.</summary>
    public static string? Describe(MachineCpu? before, MachineCpu? after, int sends)
    {
        if (before is not { } b || after is not { } a || sends == 0)
        {
            return null;
        }

        var busy = a.Busy - b.Busy;
        var total = busy + (a.Idle - b.Idle) + (a.Steal - b.Steal);
        return string.Create(CultureInfo.InvariantCulture,
            $"  machine: {busy * MillisecondsPerTick / sends:F2} ms of CPU per send (all processes, PostgreSQL included); " +
            $"idle {100.0 * (a.Idle - b.Idle) / Math.Max(1, total):F0}%, steal {100.0 * (a.Steal - b.Steal) / Math.Max(1, total):F1}%");
    }
}
