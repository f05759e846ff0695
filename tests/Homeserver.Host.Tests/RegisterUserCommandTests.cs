using System.Diagnostics;
using System.Text.Json;
using Homeserver.TestKit;
using Homeserver.Users;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary><c>Homeserver register-user</c>, run as an operator runs it: a separate process against a real database.</summary>
public sealed class RegisterUserCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hs-register-user-").FullName;

    public RegisterUserCommandTests()
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

    private async Task<(string ConfigPath, string ConnectionString)> ConfigWithDatabaseAsync()
    {
        var db = await TestDatabase.CreateAsync();
        var path = Path.Combine(_dir, "homeserver.yaml");
        File.WriteAllText(path, $$"""
            server_name: example.test
            listeners: [{port: {{TestServer.FreePort()}}, resources: [{names: [client]}]}]
            database: "{{db.ConnectionString}}"
            password_hashing: {memory_kib: 64, iterations: 1}
            """);
        return (path, db.ConnectionString);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(IEnumerable<string> args, string? stdin = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Homeserver.dll"));
        psi.ArgumentList.Add("register-user");
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteLineAsync(stdin);
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static async Task<(bool IsAdmin, string Hash)?> ReadUserAsync(string connectionString, string userId)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT is_admin, password_hash FROM users WHERE user_id = @u", conn);
        cmd.Parameters.AddWithValue("u", userId);
        await using var reader = await cmd.ExecuteReaderAsync();
        return await reader.ReadAsync() ? (reader.GetBoolean(0), reader.GetString(1)) : null;
    }

    [Fact]
    public async Task It_creates_an_admin_directly_in_the_database_and_refuses_a_taken_name()
    {
        var (config, db) = await ConfigWithDatabaseAsync();
        var (code, stdout, stderr) = await RunAsync(["--config", config, "--user", "Alice", "--password", "s3cret", "--admin"]);
        code.Should().Be(0, stderr);
        stdout.Trim().Should().Be("Created admin user @alice:example.test");
        var stored = await ReadUserAsync(db, "@alice:example.test");
        stored.Should().NotBeNull();
        stored!.Value.IsAdmin.Should().BeTrue();
        stored.Value.Hash.Should().StartWith("$argon2id$");
        PasswordHasher.Verify("s3cret", stored.Value.Hash).Should().BeTrue();

        var again = await RunAsync(["--config", config, "--user", "alice", "--password", "other"]);
        again.Code.Should().Be(1);
        again.Stderr.Trim().Should().Be("error: User ID already taken.");
    }

    [Fact]
    public async Task Without_password_option_it_reads_the_password_from_standard_input()
    {
        var (config, db) = await ConfigWithDatabaseAsync();
        var (code, stdout, stderr) = await RunAsync(["--config", config, "--user", "bob"], stdin: "from stdin");
        code.Should().Be(0, stderr);
        stdout.Trim().Should().Be("Created user @bob:example.test");
        var stored = await ReadUserAsync(db, "@bob:example.test");
        stored!.Value.IsAdmin.Should().BeFalse();
        PasswordHasher.Verify("from stdin", stored.Value.Hash).Should().BeTrue();
    }

    [Fact]
    public async Task Bad_usage_names_and_configs_fail_with_their_exit_codes()
    {
        var (config, _) = await ConfigWithDatabaseAsync();
        (await RunAsync(["--config", config, "--password", "x"])).Code.Should().Be(1);
        (await RunAsync(["--config", config, "--user", "x", "--frobnicate"])).Code.Should().Be(1);
        var invalid = await RunAsync(["--config", config, "--user", "bad name", "--password", "x"]);
        invalid.Code.Should().Be(1);
        invalid.Stderr.Should().Contain("User ID can only contain");
        var missing = await RunAsync(["--config", Path.Combine(_dir, "absent.yaml"), "--user", "x", "--password", "x"]);
        missing.Code.Should().Be(2);
        missing.Stderr.Should().Contain("does not exist");
        (await RunAsync(["--config", config, "--user", "nopassword"], stdin: string.Empty)).Code.Should().Be(1);
    }

    [Fact]
    public async Task It_adds_a_user_to_a_running_server_with_its_own_postgres_and_leaves_that_postgres_running()
    {
        var port = TestServer.FreePort();
        var dataDir = Path.Combine(_dir, "data");
        await using var server = ServerProcess.Start(["--data-dir", dataDir], new Dictionary<string, string>
        {
            ["HS__listeners__0__port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["HS__password_hashing__memory_kib"] = "64",
            ["HS__password_hashing__iterations"] = "1",
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        for (var attempt = 0; attempt < 600 && !server.HasExited; attempt++)
        {
            try
            {
                await http.GetStringAsync("/_matrix/client/versions");
                break;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(250);
            }
        }

        server.HasExited.Should().BeFalse(server.Stderr + server.Stdout);
        var (code, stdout, stderr) = await RunAsync(["--data-dir", dataDir, "--user", "carol", "--password", "pw", "--admin"]);
        code.Should().Be(0, stderr);
        stdout.Should().Contain("@carol:localhost");

        var login = await new MatrixClient(http).PostAsync("/_matrix/client/v3/login", new { type = "m.login.password", user = "carol", password = "pw" });
        login.EnsureOk().Json.GetProperty("user_id").GetString().Should().Be("@carol:localhost");
        login.Json.ValueKind.Should().Be(JsonValueKind.Object);

        server.Terminate();
        (await server.WaitForExitAsync(TimeSpan.FromSeconds(60))).Should().Be(0);
    }
}
