using System.Reflection;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Homeserver.Storage;

/// <summary>
/// Applies the numbered <c>Migrations/NNNN_name.sql</c> files embedded in this assembly, each in its own
/// transaction, under an advisory lock so that two processes never migrate at once. Refuses to run
/// against a schema newer than the code (a downgrade would corrupt data).
/// </summary>
public sealed partial class MigrationRunner
{
    // An arbitrary constant that identifies "our migration lock" among PostgreSQL advisory locks.
    private const long AdvisoryLockKey = 0x4d61_7472_6978_4853;

    private const string CreateVersionTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version     integer PRIMARY KEY,
            name        text    NOT NULL,
            applied_ts  bigint  NOT NULL
        )
        """;

    private const string SelectAppliedVersions = "SELECT version FROM schema_migrations ORDER BY version";

    private const string InsertVersion = "INSERT INTO schema_migrations (version, name, applied_ts) VALUES (@Version, @Name, @AppliedTs)";

    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger<MigrationRunner> _logger;
    private readonly TimeProvider _time;

    public MigrationRunner(NpgsqlDataSource dataSource, ILogger<MigrationRunner> logger, TimeProvider time)
    {
        _dataSource = dataSource;
        _logger = logger;
        _time = time;
    }

    public sealed record Migration(int Version, string Name, string Sql);

    /// <summary>The migrations shipped with this build, in order.</summary>
    public static IReadOnlyList<Migration> Shipped { get; } = LoadShipped();

    /// <summary>Applies every migration not yet applied. Returns how many were applied.</summary>
    public async Task<int> MigrateAsync(CancellationToken ct)
    {
        await using var conn = await _dataSource.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_lock(@Key)", new { Key = AdvisoryLockKey }, cancellationToken: ct));
        try
        {
            await conn.ExecuteAsync(new CommandDefinition(CreateVersionTable, cancellationToken: ct));
            var applied = (await conn.QueryAsync<int>(new CommandDefinition(SelectAppliedVersions, cancellationToken: ct))).ToHashSet();
            var newest = Shipped.Count == 0 ? 0 : Shipped[^1].Version;
            var tooNew = applied.Where(v => v > newest).ToList();
            if (tooNew.Count > 0)
            {
                throw new SchemaTooNewException(
                    $"the database schema is at version {tooNew.Max()}, newer than this build knows ({newest}); run a newer build");
            }

            var count = 0;
            foreach (var migration in Shipped)
            {
                if (applied.Contains(migration.Version))
                {
                    continue;
                }

                LogApplying(migration.Version, migration.Name);
                await using var tx = await conn.BeginTransactionAsync(ct);
                await conn.ExecuteAsync(new CommandDefinition(migration.Sql, transaction: tx, cancellationToken: ct, commandTimeout: 0));
                await conn.ExecuteAsync(new CommandDefinition(
                    InsertVersion,
                    new { migration.Version, migration.Name, AppliedTs = _time.GetUtcNow().ToUnixTimeMilliseconds() },
                    tx,
                    cancellationToken: ct));
                await tx.CommitAsync(ct);
                count++;
            }

            LogSchemaAt(newest, count);
            return count;
        }
        finally
        {
            await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_unlock(@Key)", new { Key = AdvisoryLockKey }, cancellationToken: CancellationToken.None));
        }
    }

    private static List<Migration> LoadShipped()
    {
        var assembly = typeof(MigrationRunner).Assembly;
        var list = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            var match = MigrationName().Match(resource);
            if (!match.Success)
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            list.Add(new Migration(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), match.Groups[2].Value, reader.ReadToEnd()));
        }

        list.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i].Version != i + 1)
            {
                throw new InvalidOperationException($"migrations must be numbered 1..N without gaps; found {list[i].Version} at position {i + 1}");
            }
        }

        return list;
    }

    [GeneratedRegex(@"^Migrations\.(\d{4})_([a-z0-9_]+)\.sql$")]
    private static partial Regex MigrationName();

    [LoggerMessage(Level = LogLevel.Information, Message = "Applying database migration {Version} ({Name})")]
    private partial void LogApplying(int version, string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "Database schema at version {Version} ({Applied} migrations applied now)")]
    private partial void LogSchemaAt(int version, int applied);
}

/// <summary>The database was migrated by a newer build than this one.</summary>
public sealed class SchemaTooNewException(string message) : Exception(message);
