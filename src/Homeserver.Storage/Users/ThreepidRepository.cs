using Dapper;
using Homeserver.Users;
using Npgsql;

namespace Homeserver.Storage.Users;

/// <summary>The <c>user_threepids</c> table.</summary>
internal sealed class ThreepidRepository(NpgsqlDataSource db) : IThreepidStore
{
    private const string SelectForUser = """
        SELECT medium AS Medium, address AS Address, validated_at AS ValidatedAt, added_at AS AddedAt
        FROM user_threepids WHERE user_id = @UserId ORDER BY medium, address
        """;

    private const string SelectUser = "SELECT user_id FROM user_threepids WHERE medium = @Medium AND address = @Address";

    private const string Delete = "DELETE FROM user_threepids WHERE user_id = @UserId AND medium = @Medium AND address = @Address";

    public async Task<IReadOnlyList<ThreepidRecord>> ListAsync(string userId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<ThreepidRecord>(new CommandDefinition(SelectForUser, new { UserId = userId }, cancellationToken: ct))).ToList();
    }

    public async Task<string?> FindUserAsync(string medium, string address, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(SelectUser, new { Medium = medium, Address = address }, cancellationToken: ct));
    }

    public async Task<bool> DeleteAsync(string userId, string medium, string address, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(Delete, new { UserId = userId, Medium = medium, Address = address }, cancellationToken: ct)) == 1;
    }
}
