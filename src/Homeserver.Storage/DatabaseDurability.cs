using Dapper;
using Npgsql;

namespace Homeserver.Storage;

/// <summary>
/// PostgreSQL settings that give up the durability the server builds on. A send is answered once the room writer's
/// transaction has committed; by then its stream position may be in a client's sync token and the event on its way to
/// other servers. If a crash of the machine can take the commit back, the next events are given the same stream
/// positions: a client that synced past them skips them for good, and other servers hold events this one no longer
/// has. The server still runs on such a database (a throwaway test cluster is one), but says so at start-up.
/// </summary>
public static class DatabaseDurability
{
    // As a connection of the server's pool sees them: synchronous_commit may also come from the connection string.
    private const string SelectSettings = """
        SELECT current_setting('fsync') AS Fsync,
               current_setting('full_page_writes') AS FullPageWrites,
               current_setting('synchronous_commit') AS SynchronousCommit
        """;

    /// <summary>
    /// One sentence for each setting that puts committed writes at risk, as the connections of <paramref name="db"/> get
    /// them (the database server's configuration, and the connection string's options); none when durable.
    /// </summary>
    public static async Task<IReadOnlyList<string>> FindRisksAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var settings = await conn.QuerySingleAsync<Settings>(new CommandDefinition(SelectSettings, cancellationToken: ct));
        return Describe(settings.Fsync, settings.FullPageWrites, settings.SynchronousCommit);
    }

    /// <summary>The risks of the given values of <c>fsync</c>, <c>full_page_writes</c> and <c>synchronous_commit</c>.</summary>
    public static IReadOnlyList<string> Describe(string fsync, string fullPageWrites, string synchronousCommit)
    {
        var risks = new List<string>();
        if (IsOff(fsync))
        {
            risks.Add("PostgreSQL runs with fsync=off: a crash of the machine can lose committed events and corrupt the database");
        }

        if (IsOff(fullPageWrites))
        {
            risks.Add("PostgreSQL runs with full_page_writes=off: a crash of the machine can leave torn pages that recovery cannot repair");
        }

        if (IsOff(synchronousCommit))
        {
            risks.Add("PostgreSQL runs with synchronous_commit=off: a crash of the machine can lose events already answered to clients and "
                + "sent to other servers, and their stream positions would be given to other events, which syncing clients then skip");
        }

        return risks;
    }

    private static bool IsOff(string value) => value.Equals("off", StringComparison.OrdinalIgnoreCase);

    private sealed record Settings(string Fsync, string FullPageWrites, string SynchronousCommit);
}
