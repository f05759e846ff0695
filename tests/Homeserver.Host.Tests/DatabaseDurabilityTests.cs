using Homeserver.Storage;
using Homeserver.TestKit;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary>
/// The start-up warning of database settings that put committed writes at risk (DatabaseDurability): read from the
/// real database, whichever way the test cluster is set up (the suite's own cluster runs without fsync, for speed).
/// </summary>
public sealed class DatabaseDurabilityTests
{
    [Fact]
    public void A_durable_server_has_no_risks() =>
        DatabaseDurability.Describe("on", "on", "on").Should().BeEmpty();

    [Fact]
    public void Each_setting_that_gives_durability_up_is_named()
    {
        DatabaseDurability.Describe("off", "on", "on").Should().ContainSingle().Which.Should().Contain("fsync=off");
        DatabaseDurability.Describe("on", "off", "on").Should().ContainSingle().Which.Should().Contain("full_page_writes=off");
        DatabaseDurability.Describe("on", "on", "off").Should().ContainSingle().Which.Should().Contain("synchronous_commit=off");

        // Waiting for the local flush only (no standby) is as durable as "on" on a single server.
        DatabaseDurability.Describe("on", "on", "local").Should().BeEmpty();
        DatabaseDurability.Describe("on", "on", "remote_apply").Should().BeEmpty();
    }

    [Theory]
    [InlineData("on")]
    [InlineData("off")]
    public async Task The_settings_are_those_the_connections_get(string synchronousCommit)
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var plain = NpgsqlDataSource.Create(database.ConnectionString);
        var fsync = (await SettingsAsync(plain)).Fsync;

        // synchronous_commit from the connection string, as an operator could set it in the server's database settings.
        var builder = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Options = $"-c synchronous_commit={synchronousCommit}" };
        await using var db = NpgsqlDataSource.Create(builder.ConnectionString);
        (await SettingsAsync(db)).SynchronousCommit.Should().Be(synchronousCommit);

        var risks = await DatabaseDurability.FindRisksAsync(db, CancellationToken.None);

        risks.Any(r => r.Contains("synchronous_commit=off")).Should().Be(synchronousCommit == "off");
        risks.Any(r => r.Contains("fsync=off")).Should().Be(fsync == "off");
    }

    private static async Task<(string Fsync, string SynchronousCommit)> SettingsAsync(NpgsqlDataSource db)
    {
        await using var conn = await db.OpenConnectionAsync();
        await using var command = new NpgsqlCommand("SELECT current_setting('fsync'), current_setting('synchronous_commit')", conn);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetString(0), reader.GetString(1));
    }
}
