using System.Data.Common;
using Homeserver.TestKit;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary>
/// The search indexer and the notification evaluator try a store again for as long as the database fails transiently
/// (<see cref="DbException.IsTransient"/>) and give other failures up after a few tries (RecordingCommitConsumer). These
/// check that the real driver against the real database says which is which.
/// </summary>
public sealed class DatabaseFailureKindsTests
{
    [Fact]
    public async Task A_connection_lost_mid_statement_is_transient() =>
        (await FailureOfAsync("SELECT pg_terminate_backend(pg_backend_pid())")).IsTransient.Should().BeTrue();

    [Fact]
    public async Task A_broken_constraint_is_not_transient() =>
        (await FailureOfAsync("CREATE TEMP TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (1)")).IsTransient.Should().BeFalse();

    private static async Task<DbException> FailureOfAsync(string sql)
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var db = NpgsqlDataSource.Create(database.ConnectionString);
        await using var conn = await db.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(sql, conn);
        return (await command.Invoking(c => c.ExecuteNonQueryAsync()).Should().ThrowAsync<DbException>()).Which;
    }
}
