using System.Diagnostics;
using System.Globalization;
using Homeserver.Core;
using Homeserver.Rooms;
using Homeserver.Rooms.Services;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Homeserver.Benchmarks;

/// <summary>
/// <c>--rooms [seconds] [messages] [joins]</c>: sustained figures BenchmarkDotNet does not give.
/// <list type="bullet">
/// <item>sends per second into one room over HTTP with 1 and 8 concurrent senders, latency percentiles, and the
/// database commands per send (counted through Npgsql's ActivitySource);</item>
/// <item>database size per 100,000 messages (pg_database_size before and after) and the /messages page latency
/// deep in that room;</item>
/// <item>bytes per state change of the state snapshot tables for 10,000 member joins.</item>
/// </list>
/// </summary>
public static class RoomLoad
{
    public static async Task RunAsync(string[] args)
    {
        var seconds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10;
        var messages = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 100_000;
        var joins = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 10_000;
        // The command breakdown only when asked for (HS_BENCH_COMMANDS=1): listening to Npgsql costs throughput (see
        // CommandCounter). Batches are counted from the events' rows instead (BatchesWrittenAsync).
        using var commands = new CommandCounter(Environment.GetEnvironmentVariable("HS_BENCH_COMMANDS") == "1");
        await using var room = await RoomBenchmarkRoom.StartAsync(8);

        // Warm-up: JIT, connection pools, the room's writer. Tiered compilation keeps recompiling hot methods for
        // several seconds (a whole-system profile of a 2 s warm-up showed the JIT's thread on 30% of the CPU eight
        // seconds into the first phase), so both phases' paths are run for a while first. A phase given 0 is skipped.
        await SendForAsync(room, 8, TimeSpan.FromSeconds(6));
        await SendForAsync(room, 1, TimeSpan.FromSeconds(6));
        // HS_BENCH_SENDERS (say "1" or "8") runs only those phases, so that a database's statistics can be taken of one.
        var phases = Environment.GetEnvironmentVariable("HS_BENCH_SENDERS") is { Length: > 0 } only
            ? only.Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture)).ToArray()
            : new[] { 1, 8 };
        var statistics = Environment.GetEnvironmentVariable("HS_BENCH_PGSTATS") == "1";
        if (statistics)
        {
            await ScalarAsync(room, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        }

        foreach (var concurrency in seconds > 0 ? phases : [])
        {
            // Before the phase's clocks start, so that neither the reset nor the report below counts in its CPU.
            if (statistics)
            {
                await ScalarAsync(room, "SELECT count(*) FROM (SELECT pg_stat_statements_reset(), pg_stat_reset_shared('wal')) r");
            }

            var before = commands.Count;
            var streamBefore = await ScalarAsync(room, "SELECT coalesce(max(stream_ordering), 0) FROM events");
            var dbBefore = commands.Time;
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var gen0Before = GC.CollectionCount(0);
            var gen1Before = GC.CollectionCount(1);
            var allocatedBefore = GC.GetTotalAllocatedBytes();
            var pausedBefore = GC.GetTotalPauseDuration();
            var machineBefore = MachineCpu.Read();
            var latencies = await SendForAsync(room, concurrency, TimeSpan.FromSeconds(seconds));
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            var machine = MachineCpu.Describe(machineBefore, MachineCpu.Read(), latencies.Count);
            if (statistics)
            {
                await PrintStatisticsAsync(room, latencies.Count);
            }

            Report($"PUT /send, {concurrency} sender(s), {seconds} s", latencies, seconds, commands.Enabled ? (commands.Count - before, commands.Time - dbBefore) : null, cpu);
            if (machine is not null)
            {
                Console.WriteLine(machine);
            }

            // The process's garbage collections: allocations per send (server and load generator together) and the
            // pauses they cost, which stop the room's writer too.
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {(GC.GetTotalAllocatedBytes() - allocatedBefore) / 1024.0 / Math.Max(1, latencies.Count):F1} KiB allocated per send; " +
                $"{GC.CollectionCount(0) - gen0Before} collections ({GC.CollectionCount(1) - gen1Before} of gen1), " +
                $"paused {(GC.GetTotalPauseDuration() - pausedBefore).TotalMilliseconds:F0} ms"));

            // The room writer's batches: how many sends each commit carried (a larger batch spreads a commit over more sends).
            var batches = await BatchesWrittenAsync(room, streamBefore);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {batches:N0} batches written, {latencies.Count / (double)Math.Max(1, batches):F2} sends per batch"));
        }

        if (seconds > 0 && commands.Enabled)
        {
            Console.WriteLine("database commands by kind (count, mean duration):");
            foreach (var line in commands.Breakdown().Take(12))
            {
                Console.WriteLine(line);
            }
        }

        if (messages > 0)
        {
            await MeasureMessagesAsync(room, messages);
        }

        if (joins > 0)
        {
            await MeasureStateAsync(room, joins);
        }
    }

    /// <summary>A room of <paramref name="messages"/> messages: database growth and pages from deep inside it.</summary>
    private static async Task MeasureMessagesAsync(RoomBenchmarkRoom room, int messages)
    {
        var sizeBefore = await ScalarAsync(room, "SELECT pg_database_size(current_database())");
        var fillWatch = Stopwatch.StartNew();
        var ids = await FillInProcessAsync(room, messages, 32);
        fillWatch.Stop();
        await ScalarAsync(room, "CHECKPOINT");
        var sizeAfter = await ScalarAsync(room, "SELECT pg_database_size(current_database())");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"filled {messages:N0} messages through the room service in {fillWatch.Elapsed.TotalSeconds:F1} s ({messages / fillWatch.Elapsed.TotalSeconds:F0} events/s, 32 concurrent sends); " +
            $"database grew {(sizeAfter - sizeBefore) / 1048576.0:F1} MiB = {(sizeAfter - sizeBefore) / (double)messages:F0} bytes per message " +
            $"({(sizeAfter - sizeBefore) * 100_000.0 / messages / 1048576.0:F1} MiB per 100k)"));
        // The middle and near the start: tokens of /context (depth and stream). The newest: sync's prev_batch (a stream
        // position only), where a client opening the room pages back from.
        foreach (var (name, index) in new[] { ("middle", messages / 2), ("near the start", messages / 20), ("newest (sync's prev_batch)", -1) })
        {
            var token = index < 0 ? await room.PrevBatchAsync() : await room.TokenBeforeAsync(ids[index]);
            var pages = new List<double>();
            for (var i = 0; i < 220; i++)
            {
                var start = Stopwatch.GetTimestamp();
                await room.PageAsync(token, 50);
                if (i >= 20)
                {
                    pages.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            }

            pages.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"GET /messages (50 events) from the {name} of {messages:N0} ({token}): p50 {Percentile(pages, 0.5):F2} ms, p99 {Percentile(pages, 0.99):F2} ms"));
        }
    }

    /// <summary>Joins of many (fake, local) users into one room through the room service: bytes of state storage per join.</summary>
    private static async Task MeasureStateAsync(RoomBenchmarkRoom room, int joins)
    {
        const string StateTables = "SELECT pg_total_relation_size('state_snapshots') + pg_total_relation_size('state_keys')";
        var rooms = room.Server.Services.GetRequiredService<RoomService>();
        var record = await rooms.GetRoomAsync(room.RoomId, CancellationToken.None);
        await ScalarAsync(room, "CHECKPOINT");
        var snapshotsBefore = await ScalarAsync(room, StateTables);
        var dbBefore = await ScalarAsync(room, "SELECT pg_database_size(current_database())");
        var watch = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < joins)
            {
                var user = $"@joiner{i.ToString(CultureInfo.InvariantCulture)}:{room.Server.ServerName}";
                await rooms.SetMembershipAsync(new Requester(user, "BENCH"), record, user, Membership.Join, null, null, CancellationToken.None);
            }
        }));
        watch.Stop();
        await ScalarAsync(room, "CHECKPOINT");
        var snapshotsAfter = await ScalarAsync(room, StateTables);
        var dbAfter = await ScalarAsync(room, "SELECT pg_database_size(current_database())");
        var snapshotRows = await ScalarAsync(room, "SELECT count(*) FROM state_snapshots");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{joins:N0} member joins in {watch.Elapsed.TotalSeconds:F1} s ({joins / watch.Elapsed.TotalSeconds:F0}/s): state snapshot tables +{(snapshotsAfter - snapshotsBefore) / (double)joins:F0} bytes per state change " +
            $"({snapshotRows:N0} snapshots in total), whole database +{(dbAfter - dbBefore) / (double)joins:F0} bytes per join"));
    }

    /// <summary>Messages sent through the room service itself (the writer and PostgreSQL, without HTTP), <paramref name="concurrency"/> at a time.</summary>
    private static async Task<List<string>> FillInProcessAsync(RoomBenchmarkRoom room, int count, int concurrency)
    {
        var rooms = room.Server.Services.GetRequiredService<RoomService>();
        var record = await rooms.GetRoomAsync(room.RoomId, CancellationToken.None);
        var sender = new Requester(room.Senders[0].UserId!, room.Senders[0].DeviceId!);
        var ids = new string[count];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var content = new System.Text.Json.Nodes.JsonObject { ["msgtype"] = "m.text", ["body"] = "fill message number " + i.ToString(CultureInfo.InvariantCulture) };
                ids[i] = (await rooms.SendAsync(sender, record, "m.room.message", null, content, null, CancellationToken.None)).EventId;
            }
        }));
        return ids.ToList();
    }

    private static async Task<List<double>> SendForAsync(RoomBenchmarkRoom room, int concurrency, TimeSpan duration)
    {
        var lean = Environment.GetEnvironmentVariable("HS_BENCH_CLIENT") == "lean";
        var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var all = new List<double>[concurrency];
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async s =>
        {
            var mine = all[s] = [];
            using var sender = lean ? await room.ConnectLeanAsync(s) : null;
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                var start = Stopwatch.GetTimestamp();
                _ = sender is null ? await room.SendAsync(s, "load") : await sender.SendAsync(room.NextTransactionId(), "load");
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }));
        return all.SelectMany(l => l).ToList();
    }

    private static void Report(string what, List<double> latencies, int seconds, (long Count, TimeSpan Time)? commands, TimeSpan cpu)
    {
        latencies.Sort();
        var n = Math.Max(1, latencies.Count);
        var database = commands is { } c ? string.Create(CultureInfo.InvariantCulture, $"{c.Count / (double)n:F1} database commands taking {c.Time.TotalMilliseconds / n:F2} ms, ") : string.Empty;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what}: {latencies.Count / (double)seconds:F0} events/s; latency p50 {Percentile(latencies, 0.5):F2} ms, p99 {Percentile(latencies, 0.99):F2} ms; " +
            $"per send: {database}{cpu.TotalMilliseconds / n:F2} ms of process CPU (thread-pool spinning included)"));
    }

    /// <summary>
    /// The room writer's batches of the events after stream position <paramref name="after"/>: a batch is written by one
    /// transaction, so its events share their rows' <c>xmin</c>.
    /// </summary>
    private static Task<long> BatchesWrittenAsync(RoomBenchmarkRoom room, long after) =>
        ScalarAsync(room, $"SELECT count(DISTINCT xmin::text) FROM events WHERE stream_ordering > {after}");

    private static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)(sorted.Count * p))];

    /// <summary>
    /// HS_BENCH_PGSTATS=1 (a cluster with pg_stat_statements loaded): what PostgreSQL spent on the phase's statements,
    /// per send, and the WAL's writes and flushes.
    /// </summary>
    private static async Task PrintStatisticsAsync(RoomBenchmarkRoom room, int sends)
    {
        await using var conn = new NpgsqlConnection(room.Server.Database.ConnectionString);
        await conn.OpenAsync();
        await using (var cmd = new NpgsqlCommand(
            "SELECT calls, rows, total_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) FROM pg_stat_statements " +
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT 8", conn))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  pg: {reader.GetInt64(0),7} calls {reader.GetInt64(1),8} rows {reader.GetDouble(2) / Math.Max(1, sends) * 1000,7:F0} us/send  {reader.GetString(3)}"));
            }
        }

        await using (var cmd = new NpgsqlCommand("SELECT wal_records, wal_bytes, wal_write, wal_sync, wal_write_time, wal_sync_time FROM pg_stat_wal", conn))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            var syncs = Math.Max(1, reader.GetInt64(3));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  wal: {reader.GetInt64(0) / (double)Math.Max(1, sends):F1} records and {reader.GetDecimal(1) / Math.Max(1, sends):F0} bytes per send; " +
                $"{reader.GetInt64(3)} flushes, {reader.GetDouble(5) / syncs:F3} ms each; {reader.GetInt64(2)} writes, {reader.GetDouble(4):F0} ms"));
        }
    }

    private static async Task<long> ScalarAsync(RoomBenchmarkRoom room, string sql)
    {
        await using var conn = new NpgsqlConnection(room.Server.Database.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        var value = await cmd.ExecuteScalarAsync();
        return value is null or DBNull ? 0 : Convert.ToInt64(value, CultureInfo.InvariantCulture);
    }
}
