using Dapper;
using Homeserver.Users;
using Npgsql;

namespace Homeserver.Storage.Users;

/// <summary>The <c>users</c> table.</summary>
internal sealed class AccountRepository(NpgsqlDataSource db) : IAccountStore
{
    private const string InsertUser = """
        INSERT INTO users (user_id, password_hash, created_ts, is_admin, is_guest, deactivated, displayname, avatar_url)
        VALUES (@UserId, @PasswordHash, @CreatedTs, @IsAdmin, @IsGuest, @Deactivated, @DisplayName, @AvatarUrl)
        ON CONFLICT (user_id) DO NOTHING
        """;

    private const string SelectUser = """
        SELECT user_id AS UserId, password_hash AS PasswordHash, created_ts AS CreatedTs, is_admin AS IsAdmin,
               is_guest AS IsGuest, deactivated AS Deactivated, displayname AS DisplayName, avatar_url AS AvatarUrl
        FROM users WHERE user_id = @UserId
        """;

    private const string UpdatePassword = "UPDATE users SET password_hash = @PasswordHash WHERE user_id = @UserId";

    public async Task<bool> CreateUserAsync(UserRecord user, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(InsertUser, user, cancellationToken: ct)) == 1;
    }

    public async Task<UserRecord?> GetUserAsync(string userId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<UserRecord>(new CommandDefinition(SelectUser, new { UserId = userId }, cancellationToken: ct));
    }

    public async Task SetPasswordHashAsync(string userId, string passwordHash, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(UpdatePassword, new { UserId = userId, PasswordHash = passwordHash }, cancellationToken: ct));
    }
}
