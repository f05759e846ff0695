using Dapper;
using Homeserver.Users;
using Npgsql;

namespace Homeserver.Storage.Users;

/// <summary>The <c>registration_tokens</c> and <c>registration_token_pending</c> tables.</summary>
internal sealed class RegistrationTokenRepository(NpgsqlDataSource db) : IRegistrationTokenStore
{
    private const string InsertToken = """
        INSERT INTO registration_tokens (token, uses_allowed, expiry_time, completed) VALUES (@Token, @UsesAllowed, @ExpiryTime, 0)
        ON CONFLICT (token) DO NOTHING
        """;

    // pending: UIA sessions younger than the cutoff that passed the token stage and have not registered yet.
    private const string SelectColumns = """
        SELECT t.token AS Token, t.uses_allowed AS UsesAllowed,
               (SELECT count(*)::int FROM registration_token_pending p WHERE p.token = t.token AND p.created_ts > @Cutoff) AS Pending,
               t.completed AS Completed, t.expiry_time AS ExpiryTime
        FROM registration_tokens t
        """;

    private const string SelectOne = SelectColumns + " WHERE t.token = @Token";

    private const string SelectAll = SelectColumns + " ORDER BY t.token";

    private const string ValidCondition = """
        (t.expiry_time IS NULL OR t.expiry_time > @NowTs)
        AND (t.uses_allowed IS NULL OR t.completed
             + (SELECT count(*) FROM registration_token_pending p WHERE p.token = t.token AND p.created_ts > @Cutoff AND p.session_id <> @SessionId)
             < t.uses_allowed)
        """;

    private const string SelectValid = "SELECT EXISTS (SELECT 1 FROM registration_tokens t WHERE t.token = @Token AND " + ValidCondition + ")";

    private const string LockToken = "SELECT token FROM registration_tokens WHERE token = @Token FOR UPDATE";

    private const string Reserve = """
        INSERT INTO registration_token_pending (session_id, token, created_ts) VALUES (@SessionId, @Token, @NowTs)
        ON CONFLICT (session_id) DO UPDATE SET token = EXCLUDED.token, created_ts = EXCLUDED.created_ts
        """;

    private const string Complete = """
        WITH used AS (DELETE FROM registration_token_pending WHERE session_id = @SessionId RETURNING token)
        UPDATE registration_tokens SET completed = completed + 1 WHERE token IN (SELECT token FROM used)
        """;

    private const string Delete = "DELETE FROM registration_tokens WHERE token = @Token";

    public async Task<bool> CreateAsync(string token, int? usesAllowed, long? expiryTime, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(InsertToken, new { Token = token, UsesAllowed = usesAllowed, ExpiryTime = expiryTime }, cancellationToken: ct)) == 1;
    }

    public async Task<RegistrationToken?> GetAsync(string token, long pendingCutoffTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<RegistrationToken>(new CommandDefinition(SelectOne, new { Token = token, Cutoff = pendingCutoffTs }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<RegistrationToken>> ListAsync(bool? valid, long nowTs, long pendingCutoffTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var all = await conn.QueryAsync<RegistrationToken>(new CommandDefinition(SelectAll, new { Cutoff = pendingCutoffTs }, cancellationToken: ct));
        return valid is null
            ? all.ToList()
            : all.Where(t => IsValid(t, nowTs) == valid.Value).ToList();
    }

    public async Task<RegistrationToken?> UpdateAsync(string token, Optional<int?> usesAllowed, Optional<long?> expiryTime, long pendingCutoffTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (usesAllowed.IsSet)
        {
            await conn.ExecuteAsync(new CommandDefinition("UPDATE registration_tokens SET uses_allowed = @Value WHERE token = @Token", new { Token = token, usesAllowed.Value }, tx, cancellationToken: ct));
        }

        if (expiryTime.IsSet)
        {
            await conn.ExecuteAsync(new CommandDefinition("UPDATE registration_tokens SET expiry_time = @Value WHERE token = @Token", new { Token = token, expiryTime.Value }, tx, cancellationToken: ct));
        }

        var updated = await conn.QuerySingleOrDefaultAsync<RegistrationToken>(new CommandDefinition(SelectOne, new { Token = token, Cutoff = pendingCutoffTs }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return updated;
    }

    public async Task<bool> DeleteAsync(string token, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(Delete, new { Token = token }, cancellationToken: ct)) == 1;
    }

    public async Task<bool> IsValidAsync(string token, long nowTs, long pendingCutoffTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<bool>(new CommandDefinition(SelectValid, new { Token = token, NowTs = nowTs, Cutoff = pendingCutoffTs, SessionId = string.Empty }, cancellationToken: ct));
    }

    public async Task<bool> TryReserveAsync(string token, string uiaSessionId, long nowTs, long pendingCutoffTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);

        // The row lock serialises concurrent reservations of one token, so uses_allowed cannot be exceeded.
        if (await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(LockToken, new { Token = token }, tx, cancellationToken: ct)) is null)
        {
            return false;
        }

        var args = new { Token = token, SessionId = uiaSessionId, NowTs = nowTs, Cutoff = pendingCutoffTs };
        if (!await conn.ExecuteScalarAsync<bool>(new CommandDefinition(SelectValid, args, tx, cancellationToken: ct)))
        {
            return false;
        }

        await conn.ExecuteAsync(new CommandDefinition(Reserve, args, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return true;
    }

    public async Task CompleteAsync(string uiaSessionId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(Complete, new { SessionId = uiaSessionId }, cancellationToken: ct));
    }

    private static bool IsValid(RegistrationToken t, long nowTs) =>
        (t.ExpiryTime is null || t.ExpiryTime > nowTs) && (t.UsesAllowed is null || t.Pending + t.Completed < t.UsesAllowed);
}
