using Homeserver.Storage;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary>A database as an earlier release left it, for tests of the migrations that follow.</summary>
internal static class PreviousSchema
{
    /// <summary>Applies every shipped migration before <paramref name="version"/> and records each as applied.</summary>
    public static async Task ApplyBeforeAsync(NpgsqlDataSource db, int version)
    {
        await RoomTestHelpers.ExecuteAsync(db, "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_ts bigint NOT NULL)");
        foreach (var migration in MigrationRunner.Shipped.Where(m => m.Version < version))
        {
            await RoomTestHelpers.ExecuteAsync(db, migration.Sql);
            await RoomTestHelpers.ExecuteAsync(db, $"INSERT INTO schema_migrations VALUES ({migration.Version}, '{migration.Name}', 0)");
        }
    }
}
