using System.Text.Json.Nodes;
using Dapper;
using Homeserver.Push;
using Homeserver.Push.Rules;
using Npgsql;

namespace Homeserver.Storage.Push;

/// <summary>The <c>push_rules</c> table, and the <c>m.push_rules</c> account data row that mirrors it.</summary>
internal sealed class PushRuleRepository(NpgsqlDataSource db) : IPushRuleStore
{
    private const string Columns = """
        user_id AS UserId, kind AS Kind, rule_id AS RuleId, server_default AS ServerDefault, position AS Position,
        conditions AS Conditions, pattern AS Pattern, actions AS Actions, enabled AS Enabled
        """;

    private const string SelectForUser = $"SELECT {Columns} FROM push_rules WHERE user_id = @UserId";

    private const string SelectForUsers = $"SELECT {Columns} FROM push_rules WHERE user_id = ANY(@UserIds)";

    // One writer per user at a time: changes are read-modify-write of the user's rows.
    private const string LockUser = "SELECT pg_advisory_xact_lock(hashtextextended(@UserId, 8))";

    private const string DeleteForUser = "DELETE FROM push_rules WHERE user_id = @UserId";

    private const string InsertRule = """
        INSERT INTO push_rules (user_id, kind, rule_id, server_default, position, conditions, pattern, actions, enabled)
        VALUES (@UserId, @Kind, @RuleId, @ServerDefault, @Position, @Conditions, @Pattern, @Actions, @Enabled)
        """;

    private const string UpsertAccountData = """
        INSERT INTO account_data (user_id, room_id, data_type, content, stream_id)
        VALUES (@UserId, '', 'm.push_rules', @Content, @StreamId)
        ON CONFLICT (user_id, room_id, data_type) DO UPDATE SET content = EXCLUDED.content, stream_id = EXCLUDED.stream_id
        """;

    private sealed class Row
    {
        public string UserId { get; set; } = string.Empty;

        public string Kind { get; set; } = string.Empty;

        public string RuleId { get; set; } = string.Empty;

        public bool ServerDefault { get; set; }

        public int Position { get; set; }

        public string? Conditions { get; set; }

        public string? Pattern { get; set; }

        public string? Actions { get; set; }

        public bool? Enabled { get; set; }
    }

    public async Task<IReadOnlyList<StoredPushRule>> GetAsync(string userId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<Row>(new CommandDefinition(SelectForUser, new { UserId = userId }, cancellationToken: ct));
        return rows.Select(ToRule).OfType<StoredPushRule>().ToList();
    }

    public async Task<IReadOnlyDictionary<string, IReadOnlyList<StoredPushRule>>> GetManyAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<Row>(new CommandDefinition(SelectForUsers, new { UserIds = userIds.ToArray() }, cancellationToken: ct));
        var result = userIds.ToDictionary(u => u, _ => (IReadOnlyList<StoredPushRule>)[], StringComparer.Ordinal);
        foreach (var group in rows.GroupBy(r => r.UserId, StringComparer.Ordinal))
        {
            result[group.Key] = group.Select(ToRule).OfType<StoredPushRule>().ToList();
        }

        return result;
    }

    public async Task UpdateAsync(
        string userId,
        Func<IReadOnlyList<StoredPushRule>, IReadOnlyList<StoredPushRule>> change,
        Func<IReadOnlyList<StoredPushRule>, string> accountData,
        long streamPosition,
        CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(LockUser, new { UserId = userId }, tx, cancellationToken: ct));
        var rows = await conn.QueryAsync<Row>(new CommandDefinition(SelectForUser, new { UserId = userId }, tx, cancellationToken: ct));
        var changed = change(rows.Select(ToRule).OfType<StoredPushRule>().ToList());
        await conn.ExecuteAsync(new CommandDefinition(DeleteForUser, new { UserId = userId }, tx, cancellationToken: ct));
        foreach (var r in changed)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                InsertRule,
                new
                {
                    UserId = userId,
                    Kind = r.Kind.Name(),
                    r.RuleId,
                    r.ServerDefault,
                    r.Position,
                    Conditions = r.Conditions?.ToJsonString(),
                    r.Pattern,
                    Actions = r.Actions?.ToJsonString(),
                    r.Enabled,
                },
                tx,
                cancellationToken: ct));
        }

        await conn.ExecuteAsync(new CommandDefinition(UpsertAccountData, new { UserId = userId, Content = accountData(changed), StreamId = streamPosition }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    private static StoredPushRule? ToRule(Row r) => PushRuleKinds.TryParse(r.Kind, out var kind)
        ? new StoredPushRule(
            kind,
            r.RuleId,
            r.ServerDefault,
            r.Position,
            r.Conditions is null ? null : JsonNode.Parse(r.Conditions)?.AsArray(),
            r.Pattern,
            r.Actions is null ? null : JsonNode.Parse(r.Actions)?.AsArray(),
            r.Enabled)
        : null;
}
