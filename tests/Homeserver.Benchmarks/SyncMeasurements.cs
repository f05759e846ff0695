using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Homeserver.TestKit;

namespace Homeserver.Benchmarks;

/// <summary>
/// Measurements that are not timings. <c>idle-polls N</c>: starts the server as its own process (so that its
/// memory is its own), parks N long-polling <c>/sync</c> requests of N users, and reports the server's resident
/// memory and threads before, while they are held, and after the clients went away.
/// </summary>
public static class SyncMeasurements
{
    public static Task<int>? TryRun(string[] args) =>
        args.Length >= 1 && args[0] == "idle-polls"
            ? IdlePollsAsync(args.Length >= 2 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2000)
            : null;

    private static async Task<int> IdlePollsAsync(int count)
    {
        await using var database = await TestDatabase.CreateAsync();
        var dir = Directory.CreateTempSubdirectory("hs-idle-polls-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        var port = TestServer.FreePort();
        var config = Path.Combine(dir, "homeserver.yaml");
        await File.WriteAllTextAsync(config, $"""
            server_name: "localhost:{port}"
            public_baseurl: "http://127.0.0.1:{port}/"
            listeners:
              - port: {port}
                bind_addresses: ['127.0.0.1']
                resources: [{"{"}names: [client]{"}"}]
            database: "{database.ConnectionString}"
            enable_registration: true
            rc_enabled: false
            password_hashing: {"{"}memory_kib: 64, iterations: 1{"}"}
            logging: {"{"}level: warning{"}"}
            """);

        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Homeserver.dll"));
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(config);
        using var server = Process.Start(psi)!;
        server.OutputDataReceived += (_, _) => { };
        server.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine("server: " + e.Data); } };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            var handler = new SocketsHttpHandler { MaxConnectionsPerServer = count + 100, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) };
            using var http = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(5) };
            await WaitUntilUpAsync(http, server);

            Console.WriteLine($"registering {count} users and syncing each once...");
            var users = new (string Token, string Since)[count];
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
            {
                var client = await new MatrixClient(http).RegisterAsync($"idle{i}");
                var sync = (await client.GetAsync("/_matrix/client/v3/sync?set_presence=offline")).EnsureOk().Json;
                users[i] = (client.AccessToken!, sync.GetProperty("next_batch").GetString()!);
            });

            await Task.Delay(2000);
            var before = Sample(server);
            Console.WriteLine($"before the polls: {before}");

            using var cancel = new CancellationTokenSource();
            var polls = users.Select(u => PollAsync(http, u.Token, u.Since, cancel.Token)).ToList();
            await Task.Delay(TimeSpan.FromSeconds(10));
            var held = Sample(server);
            var stillWaiting = polls.Count(p => !p.IsCompleted);
            Console.WriteLine($"with {stillWaiting} long-polls held: {held}");
            Console.WriteLine($"per held poll: {(held.RssKib - before.RssKib) / (double)Math.Max(1, stillWaiting):F1} KiB");

            // A responsive server while they wait: one more request.
            var watch = Stopwatch.StartNew();
            (await http.GetAsync("/_matrix/client/versions")).EnsureSuccessStatusCode();
            Console.WriteLine($"a request while they wait: {watch.Elapsed.TotalMilliseconds:F1} ms");

            await cancel.CancelAsync();
            await Task.WhenAll(polls.Select(p => p.ContinueWith(_ => { }, TaskScheduler.Default)));
            handler.Dispose();
            await Task.Delay(TimeSpan.FromSeconds(5));
            Console.WriteLine($"after the clients went away: {Sample(server)}");
            return 0;
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }
    }

    private static async Task PollAsync(HttpClient http, string token, string since, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/_matrix/client/v3/sync?set_presence=offline&timeout=120000&since={Uri.EscapeDataString(since)}");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, ct);
    }

    private static async Task WaitUntilUpAsync(HttpClient http, Process server)
    {
        for (var i = 0; i < 240 && !server.HasExited; i++)
        {
            try
            {
                using var response = await http.GetAsync("/_matrix/client/versions");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(250);
        }

        throw new InvalidOperationException("the server did not start");
    }

    private sealed record ProcessSample(long RssKib, int Threads)
    {
        public override string ToString() => $"resident {RssKib / 1024.0:F1} MiB, {Threads} threads";
    }

    private static ProcessSample Sample(Process process)
    {
        long rss = 0;
        var threads = 0;
        foreach (var line in File.ReadLines($"/proc/{process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = int.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1].Trim(), CultureInfo.InvariantCulture);
            }
        }

        return new ProcessSample(rss, threads);
    }
}
