using Homeserver.Host.Database;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Homeserver.TestKit;

/// <summary>
/// A fresh, empty PostgreSQL database for one test class, dropped afterwards. The cluster comes from
/// <c>HS_TEST_DATABASE</c> (set by deploy/test.sh); without it, one private cluster is started for the
/// whole test process. A missing PostgreSQL is a failure, never a skip.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private static readonly SemaphoreSlim ClusterLock = new(1, 1);
    private static string? _adminConnectionString;
    private static EmbeddedPostgres? _cluster;

    private TestDatabase(string name, string connectionString, string admin)
    {
        Name = name;
        ConnectionString = connectionString;
        AdminConnectionString = admin;
    }

    public string Name { get; }

    public string ConnectionString { get; }

    private string AdminConnectionString { get; }

    public static async Task<TestDatabase> CreateAsync()
    {
        var admin = await GetAdminConnectionStringAsync();
        var name = "test_" + Guid.NewGuid().ToString("N")[..16];
        await using (var conn = new NpgsqlConnection(admin))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'", conn);
            await cmd.ExecuteNonQueryAsync();
        }

        var cs = new NpgsqlConnectionStringBuilder(admin) { Database = name, MaxPoolSize = 40 }.ConnectionString;
        return new TestDatabase(name, cs, admin);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var conn = new NpgsqlConnection(AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", conn);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<string> GetAdminConnectionStringAsync()
    {
        var fromEnv = Environment.GetEnvironmentVariable("HS_TEST_DATABASE");
        if (!string.IsNullOrEmpty(fromEnv))
        {
            return fromEnv;
        }

        await ClusterLock.WaitAsync();
        try
        {
            if (_adminConnectionString is null)
            {
                var dir = Path.Combine(Path.GetTempPath(), "homeserver-tests-" + Environment.ProcessId);
                _cluster = await EmbeddedPostgres.StartAsync(dir, NullLogger.Instance, CancellationToken.None);
                _adminConnectionString = _cluster.AdminConnectionString;
                AppDomain.CurrentDomain.ProcessExit += (_, _) => _cluster.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            return _adminConnectionString;
        }
        finally
        {
            ClusterLock.Release();
        }
    }
}
