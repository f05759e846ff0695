using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Homeserver.Host.Database;

/// <summary>
/// A private PostgreSQL cluster under the data directory, for installations that configure no database:
/// <c>initdb</c> on first use, <c>pg_ctl start</c> on a unix socket only (no TCP port, so nothing else can
/// reach it and no port can clash), and <c>pg_ctl stop</c> on shutdown. PostgreSQL refuses to run as root,
/// so when we are root the cluster belongs to the unprivileged <c>postgres</c> account.
/// </summary>
public sealed partial class EmbeddedPostgres : IAsyncDisposable
{
    public const string DatabaseName = "homeserver";
    private const string SuperUser = "homeserver";
    private const int SocketPort = 5432;

    private readonly string _clusterDir;
    private readonly string _socketDir;
    private readonly string _binDir;
    private readonly string? _runAsUser;
    private readonly ILogger _logger;
    private bool _started;

    private EmbeddedPostgres(string clusterDir, string socketDir, string binDir, string? runAsUser, ILogger logger)
    {
        _clusterDir = clusterDir;
        _socketDir = socketDir;
        _binDir = binDir;
        _runAsUser = runAsUser;
        _logger = logger;
    }

    public string ClusterDirectory => _clusterDir;

    /// <summary>The cluster was already running (e.g. a server uses it while a CLI command runs): leave it running.</summary>
    public bool WasAlreadyRunning { get; private set; }

    /// <summary>The connection string of the cluster's maintenance database (for creating other databases).</summary>
    public string AdminConnectionString => Build("postgres");

    public string ConnectionString => Build(DatabaseName);

    /// <summary>Creates (if needed) and starts the cluster under <paramref name="clusterDir"/>, and makes sure the homeserver database exists.</summary>
    public static async Task<EmbeddedPostgres> StartAsync(string clusterDir, ILogger logger, CancellationToken ct)
    {
        clusterDir = Path.GetFullPath(clusterDir);
        var binDir = FindBinDir() ?? throw new EmbeddedPostgresException(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found; install PostgreSQL (apt-get install postgresql) or configure 'database'");
        var runAs = Environment.UserName == "root" || IsRoot() ? "postgres" : null;

        // Unix socket paths are limited to 107 bytes; a deep data directory gets its socket under /tmp instead.
        var socketDir = clusterDir.Length <= 80
            ? clusterDir
            : Path.Combine(Path.GetTempPath(), "homeserver-pg-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(clusterDir)))[..12]);

        var pg = new EmbeddedPostgres(clusterDir, socketDir, binDir, runAs, logger);
        await pg.InitialiseAsync(ct);
        await pg.StartServerAsync(ct);
        await pg.EnsureDatabaseAsync(ct);
        return pg;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_started)
        {
            return;
        }

        _started = false;
        LogStopping(_clusterDir);
        await RunAsync(Path.Combine(_binDir, "pg_ctl"), ["-D", _clusterDir, "-m", "fast", "-w", "-t", "60", "stop"], CancellationToken.None, allowFailure: true);
    }

    private string Build(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = _socketDir,
        Port = SocketPort,
        Username = SuperUser,
        Database = database,
        Pooling = true,
        MaxPoolSize = 50,
    }.ConnectionString;

    private async Task InitialiseAsync(CancellationToken ct)
    {
        if (File.Exists(Path.Combine(_clusterDir, "PG_VERSION")))
        {
            return;
        }

        LogInitialising(_clusterDir);
        Directory.CreateDirectory(_clusterDir);
        if (_socketDir != _clusterDir)
        {
            Directory.CreateDirectory(_socketDir);
        }

        if (_runAsUser is not null)
        {
            await RunAsync("chown", ["-R", _runAsUser, _clusterDir], ct);
            if (_socketDir != _clusterDir)
            {
                await RunAsync("chown", [_runAsUser, _socketDir], ct);
            }

            // The postgres account must be able to reach the folder: a home directory with mode 0700 blocks it.
            var probe = await RunAsync("test", ["-w", _clusterDir], ct, allowFailure: true);
            if (probe != 0)
            {
                throw new EmbeddedPostgresException(
                    $"the '{_runAsUser}' account cannot reach {_clusterDir} (a parent folder is private); choose a data_directory it can reach, or configure 'database'");
            }
        }

        // --locale=C: byte-order collation (fast, and matches the code-point ordering Matrix uses);
        // trust over the unix socket only: the socket lives in a private folder.
        await RunAsync(Path.Combine(_binDir, "initdb"),
            ["-D", _clusterDir, "-U", SuperUser, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions"], ct);
    }

    private async Task StartServerAsync(CancellationToken ct)
    {
        var status = await RunAsync(Path.Combine(_binDir, "pg_ctl"), ["-D", _clusterDir, "status"], ct, allowFailure: true);
        if (status == 0)
        {
            // Left running by a previous run that did not shut down cleanly: adopt it.
            LogAdopting(_clusterDir);
            WasAlreadyRunning = true;
            _started = true;
            return;
        }

        var options = $"-c listen_addresses='' -k {_socketDir} -p {SocketPort} -c max_connections=100 -c shared_buffers=128MB -c fsync=on";
        LogStarting(_clusterDir);
        await RunAsync(Path.Combine(_binDir, "pg_ctl"),
            ["-D", _clusterDir, "-l", Path.Combine(_clusterDir, "postgres.log"), "-w", "-t", "60", "-o", options, "start"], ct);
        _started = true;
    }

    private async Task EnsureDatabaseAsync(CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(AdminConnectionString);
        await conn.OpenAsync(ct);
        await using var check = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @name", conn);
        check.Parameters.AddWithValue("name", DatabaseName);
        if (await check.ExecuteScalarAsync(ct) is null)
        {
            await using var create = new NpgsqlCommand($"CREATE DATABASE {DatabaseName} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0", conn);
            await create.ExecuteNonQueryAsync(ct);
        }
    }

    private async Task<int> RunAsync(string file, IReadOnlyList<string> args, CancellationToken ct, bool allowFailure = false)
    {
        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (_runAsUser is not null && file != "chown")
        {
            psi.FileName = "runuser";
            psi.ArgumentList.Add("-u");
            psi.ArgumentList.Add(_runAsUser);
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(file);
        }
        else
        {
            psi.FileName = file;
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new EmbeddedPostgresException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        var output = (await stdout + await stderr).Trim();
        if (process.ExitCode != 0 && !allowFailure)
        {
            var log = Path.Combine(_clusterDir, "postgres.log");
            var tail = File.Exists(log) ? string.Join(" | ", TailLines(log, 3)) : string.Empty;
            throw new EmbeddedPostgresException($"{Path.GetFileName(file)} failed (exit {process.ExitCode}): {FirstLine(output)} {tail}".Trim());
        }

        return process.ExitCode;
    }

    private static string FirstLine(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? string.Empty;

    private static IEnumerable<string> TailLines(string path, int n)
    {
        try
        {
            return File.ReadLines(path).TakeLast(n);
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static bool IsRoot()
    {
        try
        {
            return File.ReadAllLines("/proc/self/status").Any(l => l.StartsWith("Uid:", StringComparison.Ordinal) && l.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0");
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Debian installs server binaries under /usr/lib/postgresql/&lt;major&gt;/bin; take the newest.</summary>
    internal static string? FindBinDir()
    {
        const string debianRoot = "/usr/lib/postgresql";
        if (Directory.Exists(debianRoot))
        {
            var best = Directory.GetDirectories(debianRoot)
                .Select(d => (Dir: d, Ok: int.TryParse(Path.GetFileName(d), out var v), Version: v))
                .Where(x => x.Ok && File.Exists(Path.Combine(x.Dir, "bin", "initdb")))
                .OrderByDescending(x => x.Version)
                .FirstOrDefault();
            if (best.Dir is not null)
            {
                return Path.Combine(best.Dir, "bin");
            }
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")))
            {
                return dir;
            }
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Creating a private PostgreSQL cluster in {Dir}")]
    private partial void LogInitialising(string dir);

    [LoggerMessage(Level = LogLevel.Information, Message = "Starting the private PostgreSQL cluster in {Dir}")]
    private partial void LogStarting(string dir);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The private PostgreSQL cluster in {Dir} was already running; using it")]
    private partial void LogAdopting(string dir);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping the private PostgreSQL cluster in {Dir}")]
    private partial void LogStopping(string dir);
}

public sealed class EmbeddedPostgresException(string message) : Exception(message);
