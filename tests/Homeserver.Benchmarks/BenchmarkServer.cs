using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Homeserver.Core.Configuration;
using Homeserver.Crypto;
using Homeserver.Host;
using Homeserver.Storage;
using Homeserver.TestKit;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Homeserver.Benchmarks;

/// <summary>
/// A real server (Kestrel on loopback, PostgreSQL from <c>HS_TEST_DATABASE</c> or a private cluster) for benchmarks,
/// with the token cache on or off and a choice of Argon2 parameters. Counts the database commands it runs
/// (through Npgsql's ActivitySource), so a benchmark can show how many queries a request costs.
/// </summary>
public sealed class BenchmarkServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TestDatabase _database;
    private readonly ActivityListener _listener;
    private long _commands;

    private BenchmarkServer(WebApplication app, TestDatabase database, HttpClient client)
    {
        _app = app;
        _database = database;
        Client = client;
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = _ => Interlocked.Increment(ref _commands),
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public HttpClient Client { get; }

    /// <summary>Database commands run since the server started (each Npgsql command is one activity).</summary>
    public long DatabaseCommands => Interlocked.Read(ref _commands);

    public static async Task<BenchmarkServer> StartAsync(bool tokenCache, PasswordHashingConfig hashing)
    {
        var database = await TestDatabase.CreateAsync();
        var port = TestServer.FreePort();
        var dataDir = Directory.CreateTempSubdirectory("homeserver-bench-").FullName;
        var config = new HomeserverConfig
        {
            ServerName = $"localhost:{port}",
            PublicBaseUrl = new Uri($"http://127.0.0.1:{port}/"),
            DataDirectory = dataDir,
            ConfigDirectory = dataDir,
            Listeners = [new ListenerConfig { Port = port, BindAddresses = ["127.0.0.1"], Resources = new HashSet<string> { "client" } }],
            DatabaseConnectionString = database.ConnectionString,
            SigningKeyPath = Path.Combine(dataDir, "signing.key"),
            MediaStorePath = Path.Combine(dataDir, "media"),
            EnableRegistration = true,
            RateLimits = new RateLimits { Enabled = false },
            PasswordHashing = hashing,
        };
        var app = HomeserverApp.Build(
            config,
            database.ConnectionString,
            Ed25519SigningKey.Generate("bench"),
            logging => logging.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole(o => o.SingleLine = true),
            services => services.AddSingleton(new TokenCacheOptions(tokenCache)));
        await app.Services.GetRequiredService<MigrationRunner>().MigrateAsync(CancellationToken.None);
        await app.StartAsync();
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
        var client = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        return new BenchmarkServer(app, database, client);
    }

    /// <summary>Registers a user (dummy UIA flow) and returns its access token.</summary>
    public async Task<(string UserId, string AccessToken)> RegisterAsync(string username, string password)
    {
        var first = await Client.PostAsJsonAsync("/_matrix/client/v3/register", new { username, password });
        var session = JsonDocument.Parse(await first.Content.ReadAsStringAsync()).RootElement.GetProperty("session").GetString();
        var done = await Client.PostAsJsonAsync("/_matrix/client/v3/register", new { username, password, auth = new { type = "m.login.dummy", session } });
        done.EnsureSuccessStatusCode();
        var json = JsonDocument.Parse(await done.Content.ReadAsStringAsync()).RootElement;
        return (json.GetProperty("user_id").GetString()!, json.GetProperty("access_token").GetString()!);
    }

    public HttpRequestMessage WhoAmI(string accessToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/_matrix/client/v3/account/whoami");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        return request;
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _database.DisposeAsync();
    }
}
