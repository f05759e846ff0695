using Dapper;
using Homeserver.Users;
using Npgsql;

namespace Homeserver.Storage.Users;

/// <summary>The <c>user_filters</c> table: IDs count from 0 per user; an identical filter gets its existing ID back (as in Synapse).</summary>
internal sealed class FilterRepository(NpgsqlDataSource db) : IFilterStore
{
    // Serialises uploads of one user, so that two uploads cannot take the same next ID.
    private const string LockUser = "SELECT pg_advisory_xact_lock(hashtext('user_filters'), hashtext(@UserId))";

    private const string SelectExisting = """
        SELECT filter_id FROM user_filters WHERE user_id = @UserId AND md5(filter_json) = md5(@Json) AND filter_json = @Json LIMIT 1
        """;

    private const string Insert = """
        INSERT INTO user_filters (user_id, filter_id, filter_json)
        SELECT @UserId, COALESCE(MAX(filter_id) + 1, 0), @Json FROM user_filters WHERE user_id = @UserId
        RETURNING filter_id
        """;

    private const string SelectOne = "SELECT filter_json FROM user_filters WHERE user_id = @UserId AND filter_id = @FilterId";

    public async Task<long> AddAsync(string userId, string canonicalJson, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var args = new { UserId = userId, Json = canonicalJson };
        await conn.ExecuteAsync(new CommandDefinition(LockUser, args, tx, cancellationToken: ct));
        var id = await conn.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(SelectExisting, args, tx, cancellationToken: ct))
            ?? await conn.QuerySingleAsync<long>(new CommandDefinition(Insert, args, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return id;
    }

    public async Task<string?> GetAsync(string userId, long filterId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(SelectOne, new { UserId = userId, FilterId = filterId }, cancellationToken: ct));
    }
}
