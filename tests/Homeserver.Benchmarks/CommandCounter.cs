using System.Diagnostics;
using System.Globalization;

namespace Homeserver.Benchmarks;

/// <summary>
/// Counts database commands through Npgsql's ActivitySource (every command is one activity). Listening is not free:
/// with a listener, Npgsql writes out every batch's full SQL text for the activity, which cost the room benchmark's
/// 8 senders 5-15% of their events per second; the server itself runs without one.
/// </summary>
internal sealed class CommandCounter : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (long Count, long Ticks)> _byStatement = new();
    private long _count;
    private long _ticks;
    private List<(DateTime Start, TimeSpan Duration, string Kind)>? _trace;

    /// <summary>Count and mean duration of each kind of command seen (first 60 characters of its SQL).</summary>
    public IEnumerable<string> Breakdown() => _byStatement.OrderByDescending(kv => kv.Value.Ticks)
        .Select(kv => string.Create(CultureInfo.InvariantCulture, $"  {kv.Value.Count,8} x {TimeSpan.FromTicks(kv.Value.Ticks / kv.Value.Count).TotalMilliseconds,7:F2} ms  {kv.Key}"));

    public CommandCounter(bool enabled = true)
    {
        Enabled = enabled;
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a =>
            {
                Interlocked.Increment(ref _count);
                Interlocked.Add(ref _ticks, a.Duration.Ticks);
                _byStatement.AddOrUpdate(Key(a), (1, a.Duration.Ticks), (_, v) => (v.Count + 1, v.Ticks + a.Duration.Ticks));
                if (Volatile.Read(ref _trace) is { } trace)
                {
                    lock (trace)
                    {
                        trace.Add((a.StartTimeUtc, a.Duration, Key(a)));
                    }
                }
            },
        };
        if (enabled)
        {
            ActivitySource.AddActivityListener(_listener);
        }
    }

    public bool Enabled { get; }

    public long Count => Interlocked.Read(ref _count);

    /// <summary>Starts recording every command (start, duration, kind) until <see cref="StopTrace"/>.</summary>
    public void StartTrace() => Volatile.Write(ref _trace, []);

    /// <summary>The commands recorded since <see cref="StartTrace"/>, in order of their start.</summary>
    public List<(DateTime Start, TimeSpan Duration, string Kind)> StopTrace()
    {
        var trace = Interlocked.Exchange(ref _trace, null) ?? [];
        lock (trace)
        {
            return trace.OrderBy(t => t.Start).ToList();
        }
    }

    private static string Key(Activity a)
    {
        var text = (a.GetTagItem("db.query.text") ?? a.GetTagItem("db.statement"))?.ToString() ?? a.DisplayName;
        return (text.Length > 60 ? text[..60] : text).ReplaceLineEndings(" ");
    }

    /// <summary>Forgets everything counted so far (the breakdown of one phase).</summary>
    public void Clear()
    {
        _byStatement.Clear();
        Interlocked.Exchange(ref _count, 0);
        Interlocked.Exchange(ref _ticks, 0);
    }

    /// <summary>The summed duration of the commands (from sending to reading the last row).</summary>
    public TimeSpan Time => TimeSpan.FromTicks(Interlocked.Read(ref _ticks));

    public void Dispose() => _listener.Dispose();
}
