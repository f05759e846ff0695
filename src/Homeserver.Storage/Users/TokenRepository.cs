using Dapper;
using Homeserver.Users;
using Npgsql;

namespace Homeserver.Storage.Users;

/// <summary>The <c>login_tokens</c> and <c>openid_tokens</c> tables: short-lived tokens, stored as SHA-256 hashes.</summary>
internal sealed class TokenRepository(NpgsqlDataSource db) : ITokenStore
{
    private const string InsertLoginToken = "INSERT INTO login_tokens (token_hash, user_id, expires_ts) VALUES (@Hash, @UserId, @ExpiresTs)";

    // Deleted whether or not it expired: a login token is tried once. Expired ones of other users are swept too.
    private const string ConsumeLoginToken = """
        WITH spent AS (DELETE FROM login_tokens WHERE token_hash = @Hash RETURNING user_id, expires_ts),
             swept AS (DELETE FROM login_tokens WHERE expires_ts <= @NowTs AND token_hash <> @Hash)
        SELECT user_id FROM spent WHERE expires_ts > @NowTs
        """;

    private const string InsertOpenIdToken = """
        DELETE FROM openid_tokens WHERE expires_ts <= @NowTs;
        INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES (@Hash, @UserId, @ExpiresTs);
        """;

    private const string SelectOpenIdToken = "SELECT user_id FROM openid_tokens WHERE token_hash = @Hash AND expires_ts > @NowTs";

    public async Task CreateLoginTokenAsync(byte[] tokenHash, string userId, long expiresTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(InsertLoginToken, new { Hash = tokenHash, UserId = userId, ExpiresTs = expiresTs }, cancellationToken: ct));
    }

    public async Task<string?> ConsumeLoginTokenAsync(byte[] tokenHash, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(ConsumeLoginToken, new { Hash = tokenHash, NowTs = nowTs }, cancellationToken: ct));
    }

    public async Task CreateOpenIdTokenAsync(byte[] tokenHash, string userId, long expiresTs, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(InsertOpenIdToken, new { Hash = tokenHash, UserId = userId, ExpiresTs = expiresTs, NowTs = nowTs }, cancellationToken: ct));
    }

    public async Task<string?> FindOpenIdTokenAsync(byte[] tokenHash, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(SelectOpenIdToken, new { Hash = tokenHash, NowTs = nowTs }, cancellationToken: ct));
    }
}
