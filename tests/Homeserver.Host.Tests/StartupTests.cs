using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

/// <summary>The server as a process: first run with the embedded database, and the failures that must stop it with one clear line.</summary>
public sealed class StartupTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hs-startup-").FullName;

    public StartupTests()
    {
        // The embedded cluster runs as the postgres account when the tests run as root: it must reach the folder.
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_101_101);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Files owned by the postgres account may be left behind; /tmp is cleaned eventually.
        }
    }

    private string WriteConfig(string body)
    {
        var path = Path.Combine(_dir, "homeserver.yaml");
        File.WriteAllText(path, body);
        return path;
    }

    private static string Config(int port, string database) => $$"""
        server_name: localhost
        listeners:
          - port: {{port}}
            bind_addresses: ['127.0.0.1']
            resources: [{names: [client, federation]}]
        database: "{{database}}"
        """;

    private static async Task<string> TestDatabaseConnectionStringAsync()
    {
        var db = await TestDatabase.CreateAsync();
        return db.ConnectionString;
    }

    [Fact]
    public async Task A_bad_config_value_stops_the_server_with_one_line_naming_the_key()
    {
        var path = WriteConfig("server_name: localhost\nlisteners: [{port: 8008, resources: [{names: [client]}]}]\nmax_upload_size: huge\n");
        await using var server = ServerProcess.Start(["--config", path]);
        var code = await server.WaitForExitAsync(TimeSpan.FromSeconds(60));
        code.Should().Be(2);
        server.Stderr.Trim().Should().Be("error: configuration error: max_upload_size: must be a size such as 50M, 1G or a number of bytes, not 'huge'");
    }

    [Fact]
    public async Task A_missing_config_file_given_with_config_is_an_error()
    {
        await using var server = ServerProcess.Start(["--config", Path.Combine(_dir, "absent.yaml")]);
        (await server.WaitForExitAsync(TimeSpan.FromSeconds(60))).Should().Be(2);
        server.Stderr.Should().Contain("does not exist");
    }

    [Fact]
    public async Task An_unreachable_database_stops_the_server_with_one_line()
    {
        var closedPort = TestServer.FreePort();
        var path = WriteConfig(Config(TestServer.FreePort(), $"Host=127.0.0.1;Port={closedPort};Username=nobody;Database=nothing;Timeout=5"));
        await using var server = ServerProcess.Start(["--config", path]);
        var code = await server.WaitForExitAsync(TimeSpan.FromSeconds(60));
        code.Should().Be(3);
        var errorLines = server.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        errorLines.Should().ContainSingle().Which.Should().StartWith("error: cannot use the database:");
    }

    [Fact]
    public async Task A_port_already_in_use_stops_the_server_with_one_line()
    {
        using var occupier = new TcpListener(IPAddress.Loopback, 0);
        occupier.Start();
        var port = ((IPEndPoint)occupier.LocalEndpoint).Port;
        var path = WriteConfig(Config(port, await TestDatabaseConnectionStringAsync()));
        await using var server = ServerProcess.Start(["--config", path]);
        var code = await server.WaitForExitAsync(TimeSpan.FromSeconds(60));
        code.Should().Be(4);
        var errorLines = server.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        errorLines.Should().ContainSingle().Which.Should().StartWith("error: cannot listen:").And.Contain(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task First_run_writes_a_config_creates_a_key_and_serves_with_its_own_postgres()
    {
        var port = TestServer.FreePort();
        var dataDir = Path.Combine(_dir, "data");
        await using var server = ServerProcess.Start(["--data-dir", dataDir], new Dictionary<string, string>
        {
            ["HS__listeners__0__port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        JsonElement keys = default;
        for (var attempt = 0; attempt < 600 && !server.HasExited; attempt++)
        {
            try
            {
                keys = JsonDocument.Parse(await http.GetStringAsync("/_matrix/key/v2/server")).RootElement.Clone();
                break;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(250);
            }
        }

        server.HasExited.Should().BeFalse(server.Stderr + server.Stdout);
        keys.GetProperty("server_name").GetString().Should().Be("localhost");
        File.Exists(Path.Combine(dataDir, "homeserver.yaml")).Should().BeTrue();
        File.Exists(Path.Combine(dataDir, "postgres", "PG_VERSION")).Should().BeTrue();
        var keyFile = Path.Combine(dataDir, "localhost.signing.key");
        File.GetUnixFileMode(keyFile).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.ReadAllText(keyFile).Should().StartWith("ed25519 a_");
        server.Stdout.Should().Contain("register-user");

        server.Terminate();
        (await server.WaitForExitAsync(TimeSpan.FromSeconds(60))).Should().Be(0);
        File.Exists(Path.Combine(dataDir, "postgres", "postmaster.pid")).Should().BeFalse("the private cluster is stopped with the server");
    }
}
