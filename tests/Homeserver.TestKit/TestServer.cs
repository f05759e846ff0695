using System.Net;
using System.Net.Sockets;
using Homeserver.Core.Configuration;
using Homeserver.Crypto;
using Homeserver.Host;
using Homeserver.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Homeserver.TestKit;

/// <summary>
/// A real homeserver (real Kestrel on a loopback port, real PostgreSQL database) for integration tests.
/// Use one per test class through <c>IClassFixture</c>.
/// </summary>
public class TestServer : IAsyncLifetime
{
    // FreePort's range: below the kernel's ephemeral ports.
    private const int FirstPort = 20_000;
    private const int EphemeralPortsStart = 32_768;

    private static readonly HashSet<int> HandedOutPorts = [];

    private WebApplication? _app;
    private TestDatabase? _database;
    private string? _dataDir;
    private Ed25519SigningKey? _key;

    public HttpClient Client { get; private set; } = null!;

    public HomeserverConfig Config { get; private set; } = null!;

    public Uri BaseAddress { get; private set; } = null!;

    public IServiceProvider Services => _app!.Services;

    public string ServerName => Config.ServerName;

    public TestDatabase Database => _database!;

    /// <summary>Lets a test class adjust the configuration before the server starts.</summary>
    protected virtual HomeserverConfig Configure(HomeserverConfig config) => config;

    /// <summary>Serve HTTPS with a certificate of the test CA, and trust that CA for outbound federation.</summary>
    protected virtual bool UseTls => false;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        var port = FreePort();
        _dataDir = Directory.CreateTempSubdirectory("homeserver-test-").FullName;
        var serverName = $"localhost:{port}";
        var certificates = UseTls ? TestCertificates.Instance : null;
        var scheme = UseTls ? "https" : "http";
        Config = Configure(new HomeserverConfig
        {
            ServerName = serverName,
            PublicBaseUrl = new Uri($"{scheme}://localhost:{port}/"),
            TlsCertificatePath = certificates?.CertificatePath,
            TlsPrivateKeyPath = certificates?.KeyPath,
            FederationCustomCaList = certificates is null ? [] : [certificates.CaPath],
            DataDirectory = _dataDir,
            ConfigDirectory = _dataDir,
            Listeners =
            [
                new ListenerConfig
                {
                    Port = port,
                    BindAddresses = ["127.0.0.1"],
                    Tls = UseTls,
                    Resources = new HashSet<string> { "client", "federation", "keys", "media", "well_known", "openid" },
                },
            ],
            DatabaseConnectionString = _database.ConnectionString,
            SigningKeyPath = Path.Combine(_dataDir, "signing.key"),
            MediaStorePath = Path.Combine(_dataDir, "media"),
            EnableRegistration = true,
            RegistrationSharedSecret = "test_shared_secret",
            RateLimits = new RateLimits { Enabled = false },
            IpRangeBlacklist = [],
            PasswordHashing = new PasswordHashingConfig { MemoryKib = 64, Iterations = 1 },
        });

        _key = Ed25519SigningKey.Generate("test");
        await StartAppAsync();
        BaseAddress = new Uri($"{scheme}://localhost:{port}/");
        var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
        Client = new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    private async Task StartAppAsync()
    {
        _app = HomeserverApp.Build(Config, _database!.ConnectionString, _key!, logging => logging.SetMinimumLevel(LogLevel.Warning).AddFilter("Homeserver.Federation", Environment.GetEnvironmentVariable("HS_TEST_FEDERATION_LOG") is null ? LogLevel.Warning : LogLevel.Debug).AddSimpleConsole(o => o.SingleLine = true));
        await HomeserverApp.PrepareAsync(_app, CancellationToken.None);
        await _app.StartAsync();
    }

    /// <summary>Stops the server (its port closes; its database and keys stay).</summary>
    public async Task StopAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    /// <summary>Starts the server again after <see cref="StopAsync"/>, with the same database, keys and port.</summary>
    public Task RestartAsync() => StartAppAsync();

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        if (_dataDir is not null)
        {
            try
            {
                Directory.Delete(_dataDir, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: temp folders are cleaned by the OS eventually.
            }
        }
    }

    /// <summary>
    /// A loopback port nothing listens on, for a server the caller starts later. It is below the kernel's range of
    /// ephemeral ports (32768-60999 on Linux): a port the kernel picks for a listener of port 0 comes from that range,
    /// and is free only until an outgoing connection takes it as its local port, which in a test run with hundreds of
    /// connections can happen before the server binds it. A port is handed out once per process, so that a server
    /// stopped and started again (RestartAsync) finds its port still free.
    /// </summary>
    public static int FreePort()
    {
        lock (HandedOutPorts)
        {
            for (var attempt = 0; attempt < 1_000; attempt++)
            {
                var port = Random.Shared.Next(FirstPort, EphemeralPortsStart);
                if (!HandedOutPorts.Add(port))
                {
                    continue;
                }

                try
                {
                    using var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    return port;
                }
                catch (SocketException)
                {
                    // In use by another process: try another.
                }
            }
        }

        throw new InvalidOperationException($"No free loopback port between {FirstPort} and {EphemeralPortsStart}");
    }
}
