using Homeserver.Core.Configuration;
using Homeserver.Crypto;
using Homeserver.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Homeserver.Host.Tests;

/// <summary>A notification that could not be delivered survives a restart of the server and is delivered after it.</summary>
public sealed class PusherRestartTests : IAsyncLifetime
{
    private readonly int _port = TestServer.FreePort();
    private readonly Ed25519SigningKey _key = Ed25519SigningKey.Generate("test");
    private TestDatabase _database = null!;
    private string _dataDir = null!;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _dataDir = Directory.CreateTempSubdirectory("homeserver-restart-").FullName;
    }

    public async Task DisposeAsync()
    {
        await _database.DisposeAsync();
        Directory.Delete(_dataDir, recursive: true);
    }

    private async Task<WebApplication> StartServerAsync()
    {
        var config = new HomeserverConfig
        {
            ServerName = $"localhost:{_port}",
            PublicBaseUrl = new Uri($"http://127.0.0.1:{_port}/"),
            DataDirectory = _dataDir,
            ConfigDirectory = _dataDir,
            Listeners = [new ListenerConfig { Port = _port, BindAddresses = ["127.0.0.1"], Resources = new HashSet<string> { "client", "media" } }],
            DatabaseConnectionString = _database.ConnectionString,
            SigningKeyPath = Path.Combine(_dataDir, "signing.key"),
            MediaStorePath = Path.Combine(_dataDir, "media"),
            EnableRegistration = true,
            RateLimits = new RateLimits { Enabled = false },
            IpRangeBlacklist = [],
            PasswordHashing = new PasswordHashingConfig { MemoryKib = 64, Iterations = 1 },
        };
        var app = HomeserverApp.Build(config, _database.ConnectionString, _key, logging => logging.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole(o => o.SingleLine = true));
        await HomeserverApp.PrepareAsync(app, CancellationToken.None);
        await app.StartAsync();
        return app;
    }

    private static async Task StopServerAsync(WebApplication app)
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    [Fact]
    public async Task A_pending_notification_is_delivered_after_a_restart()
    {
        await using var gateway = await TestPushGateway.StartAsync();
        gateway.Status = 503;
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}/") };

        var first = await StartServerAsync();
        var alice = await new MatrixClient(http).RegisterAsync();
        var bob = await new MatrixClient(http).RegisterAsync();
        var roomId = await PusherTests.OneToOneRoomAsync(alice, bob);
        (await alice.PostAsync("/_matrix/client/v3/pushers/set", PusherTests.Pusher(gateway.Url, "restart-key"))).EnsureOk();
        var eventId = await PusherTests.SendAsync(bob, roomId, """{"msgtype": "m.text", "body": "while the gateway is down"}""");

        // Let the server try (and fail) at least once, then stop it with the notification undelivered.
        await Task.Delay(1500);
        await StopServerAsync(first);

        gateway.Status = 200;
        var second = await StartServerAsync();
        try
        {
            var request = await gateway.NextAsync(b => b.GetProperty("notification").TryGetProperty("event_id", out var id) && id.GetString() == eventId, TimeSpan.FromSeconds(30));
            request.Body.GetProperty("notification").GetProperty("content").GetProperty("body").GetString().Should().Be("while the gateway is down");
            request.Body.GetProperty("notification").GetProperty("devices")[0].GetProperty("pushkey").GetString().Should().Be("restart-key");
        }
        finally
        {
            await StopServerAsync(second);
        }
    }
}
