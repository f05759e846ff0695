using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Homeserver.TestKit;

namespace Homeserver.Benchmarks;

/// <summary>
/// <c>--wake [cycles]</c>: the send-to-/sync wake-up, cycle by cycle, with what BenchmarkDotNet's
/// <c>SendAndWake − SendOnly</c> does not show: the median and p90 of the time from the send's answer to the woken
/// long-poll's answer (and from the send's start), and the database commands of a woken sync by kind, beside those
/// of the same number of sends nobody waits for.
/// </summary>
public static class WakeUpLoad
{
    public static async Task RunAsync(string[] args)
    {
        var cycles = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200;
        using var commands = new CommandCounter();
        await using var server = new TestServer();
        await server.InitializeAsync();
        var alice = await new MatrixClient(server.Client).RegisterAsync();
        var bob = await new MatrixClient(server.Client).RegisterAsync();
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat" })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        (await bob.PostAsync($"/_matrix/client/v3/join/{Uri.EscapeDataString(roomId)}", new { })).EnsureOk();
        using var aliceHttp = Authed(server, alice.AccessToken!);
        using var bobHttp = Authed(server, bob.AccessToken!);
        var since = await NextBatchAsync(bobHttp, "/_matrix/client/v3/sync?set_presence=offline");

        // Warm-up (JIT, pools, caches), then sends alone, then sends that wake a parked long-poll.
        for (var i = 0; i < 20; i++)
        {
            await SendAsync(aliceHttp, roomId);
        }

        since = await NextBatchAsync(bobHttp, "/_matrix/client/v3/sync?set_presence=offline&since=" + Uri.EscapeDataString(since));
        for (var i = 0; i < 20; i++)
        {
            since = (await CycleAsync(aliceHttp, bobHttp, roomId, since)).Since;
        }

        commands.Clear();
        var sendOnly = new List<double>();
        for (var i = 0; i < cycles; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await SendAsync(aliceHttp, roomId);
            sendOnly.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        var sendOnlyCommands = commands.Breakdown().ToList();
        var sendOnlyCount = commands.Count;
        since = await NextBatchAsync(bobHttp, "/_matrix/client/v3/sync?set_presence=offline&since=" + Uri.EscapeDataString(since));

        commands.Clear();
        var afterAnswer = new List<double>();
        var afterStart = new List<double>();
        var sends = new List<double>();
        for (var i = 0; i < cycles; i++)
        {
            var cycle = await CycleAsync(aliceHttp, bobHttp, roomId, since);
            since = cycle.Since;
            sends.Add(cycle.Send);
            afterAnswer.Add(cycle.WokenAfterAnswer);
            afterStart.Add(cycle.WokenAfterStart);
        }

        var wakeCount = commands.Count;
        var wakeBreakdown = commands.Breakdown().ToList();

        // Three more cycles with every database command's start and end, relative to the send's start: the critical path.
        var traces = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            commands.StartTrace();
            var sendStart = DateTime.UtcNow;
            var cycle = await CycleAsync(aliceHttp, bobHttp, roomId, since, beforeSend: () => sendStart = DateTime.UtcNow);
            since = cycle.Since;
            var trace = commands.StopTrace();
            traces.Add(string.Create(CultureInfo.InvariantCulture, $"cycle: send answered at {cycle.Send:F1} ms, long-poll answered at {cycle.WokenAfterStart:F1} ms"));
            traces.AddRange(trace.Where(t => t.Start >= sendStart).Select(t => string.Create(CultureInfo.InvariantCulture,
                $"  {(t.Start - sendStart).TotalMilliseconds,7:F1} → {(t.Start + t.Duration - sendStart).TotalMilliseconds,7:F1} ms  {t.Kind}")));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"send alone ({cycles}x): p50 {P(sendOnly, 0.5):F2} ms, p90 {P(sendOnly, 0.9):F2} ms; {sendOnlyCount / (double)cycles:F1} database commands per send"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"send with a parked long-poll ({cycles}x): send p50 {P(sends, 0.5):F2} ms; long-poll answered after the send's answer p50 {P(afterAnswer, 0.5):F2} ms, p90 {P(afterAnswer, 0.9):F2} ms; " +
            $"after the send's start p50 {P(afterStart, 0.5):F2} ms, p90 {P(afterStart, 0.9):F2} ms; {wakeCount / (double)cycles:F1} database commands per cycle"));
        Console.WriteLine("database commands of the sends alone (count, mean duration):");
        sendOnlyCommands.ForEach(Console.WriteLine);
        Console.WriteLine("database commands of the sends with a woken sync (count, mean duration):");
        wakeBreakdown.ForEach(Console.WriteLine);
        Console.WriteLine("traced cycles (database commands from the send's start; the long-poll was parked before):");
        traces.ForEach(Console.WriteLine);
    }

    private sealed record Cycle(string Since, double Send, double WokenAfterAnswer, double WokenAfterStart);

    private static async Task<Cycle> CycleAsync(HttpClient alice, HttpClient bob, string roomId, string since, Action? beforeSend = null)
    {
        var poll = bob.GetByteArrayAsync($"/_matrix/client/v3/sync?set_presence=offline&timeout=60000&since={Uri.EscapeDataString(since)}");

        // Let the request reach the server and park.
        await Task.Delay(30);
        beforeSend?.Invoke();
        var start = Stopwatch.GetTimestamp();
        await SendAsync(alice, roomId);
        var sent = Stopwatch.GetTimestamp();
        var body = await poll;
        var woken = Stopwatch.GetTimestamp();
        using var doc = JsonDocument.Parse(body);
        return new Cycle(
            doc.RootElement.GetProperty("next_batch").GetString()!,
            Stopwatch.GetElapsedTime(start, sent).TotalMilliseconds,
            Stopwatch.GetElapsedTime(sent, woken).TotalMilliseconds,
            Stopwatch.GetElapsedTime(start, woken).TotalMilliseconds);
    }

    private static HttpClient Authed(TestServer server, string token)
    {
        var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static async Task SendAsync(HttpClient http, string roomId)
    {
        using var content = new StringContent("""{"msgtype":"m.text","body":"wake up"}""", Encoding.UTF8, "application/json");
        using var response = await http.PutAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/send/m.room.message/{Guid.NewGuid():N}", content);
        response.EnsureSuccessStatusCode();
    }

    private static async Task<string> NextBatchAsync(HttpClient http, string url)
    {
        using var doc = JsonDocument.Parse(await http.GetByteArrayAsync(url));
        return doc.RootElement.GetProperty("next_batch").GetString()!;
    }

    private static double P(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)(sorted.Count * p))];
    }
}
