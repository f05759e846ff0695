using Dapper;
using Homeserver.Users;
using Npgsql;

namespace Homeserver.Storage.Users;

/// <summary>The <c>users</c> table (and, for deactivation, everything that hangs off an account).</summary>
internal sealed class AccountRepository(NpgsqlDataSource db) : IAccountStore
{
    private const string InsertUser = """
        INSERT INTO users (user_id, password_hash, created_ts, is_admin, is_guest, deactivated, displayname, avatar_url, directory_search)
        VALUES (@UserId, @PasswordHash, @CreatedTs, @IsAdmin, @IsGuest, @Deactivated, @DisplayName, @AvatarUrl, @SearchText)
        ON CONFLICT (user_id) DO NOTHING
        """;

    private const string SelectUser = """
        SELECT user_id AS UserId, password_hash AS PasswordHash, created_ts AS CreatedTs, is_admin AS IsAdmin,
               is_guest AS IsGuest, deactivated AS Deactivated, displayname AS DisplayName, avatar_url AS AvatarUrl, erased AS Erased
        FROM users WHERE user_id = @UserId
        """;

    private const string UpdatePassword = "UPDATE users SET password_hash = @PasswordHash WHERE user_id = @UserId";

    private const string UpgradeGuest = """
        UPDATE users SET is_guest = false, password_hash = @PasswordHash
        WHERE user_id = @UserId AND is_guest AND NOT deactivated
        """;

    private const string UpdateDisplayName = "UPDATE users SET displayname = @Value, directory_search = @SearchText WHERE user_id = @UserId";

    private const string UpdateAvatarUrl = "UPDATE users SET avatar_url = @Value WHERE user_id = @UserId";

    private const string MarkDeactivated = """
        UPDATE users SET deactivated = true, password_hash = NULL, erased = erased OR @Erase,
               displayname = CASE WHEN @Erase THEN NULL ELSE displayname END,
               directory_search = CASE WHEN @Erase THEN @ErasedSearchText ELSE directory_search END,
               avatar_url = CASE WHEN @Erase THEN NULL ELSE avatar_url END
        WHERE user_id = @UserId
        """;

    // Devices cascade to their access tokens.
    private const string DeleteAccountState = """
        DELETE FROM devices WHERE user_id = @UserId;
        DELETE FROM login_tokens WHERE user_id = @UserId;
        DELETE FROM openid_tokens WHERE user_id = @UserId;
        DELETE FROM user_threepids WHERE user_id = @UserId;
        DELETE FROM account_data WHERE user_id = @UserId;
        DELETE FROM user_filters WHERE user_id = @UserId;
        """;

    public async Task<bool> CreateUserAsync(UserRecord user, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var args = new
        {
            user.UserId,
            user.PasswordHash,
            user.CreatedTs,
            user.IsAdmin,
            user.IsGuest,
            user.Deactivated,
            user.DisplayName,
            user.AvatarUrl,
            SearchText = UserDirectoryService.SearchText(user.UserId, user.DisplayName),
        };
        return await conn.ExecuteAsync(new CommandDefinition(InsertUser, args, cancellationToken: ct)) == 1;
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

    public async Task<bool> UpgradeGuestAsync(string userId, string passwordHash, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(UpgradeGuest, new { UserId = userId, PasswordHash = passwordHash }, cancellationToken: ct)) == 1;
    }

    public async Task DeactivateAsync(string userId, bool erase, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(MarkDeactivated, new { UserId = userId, Erase = erase, ErasedSearchText = UserDirectoryService.SearchText(userId, null) }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(DeleteAccountState, new { UserId = userId }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    public async Task<bool> SetDisplayNameAsync(string userId, string? displayName, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(UpdateDisplayName, new { UserId = userId, Value = displayName, SearchText = UserDirectoryService.SearchText(userId, displayName) }, cancellationToken: ct)) == 1;
    }

    public async Task<bool> SetAvatarUrlAsync(string userId, string? avatarUrl, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(UpdateAvatarUrl, new { UserId = userId, Value = avatarUrl }, cancellationToken: ct)) == 1;
    }
}
