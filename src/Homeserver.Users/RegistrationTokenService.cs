using System.Security.Cryptography;
using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Users;

/// <summary>
/// Registration tokens (<c>m.login.registration_token</c>, client-server spec "Token-authenticated registration"),
/// managed by admins through Synapse's admin API shape. A token counts as "pending" for a UIA session once that
/// session passed the token stage, and as "completed" once the registration succeeded; pending uses of sessions
/// that expired no longer count.
/// </summary>
public sealed class RegistrationTokenService(IRegistrationTokenStore store, TimeProvider time)
{
    public const int MaxTokenLength = 64;
    private const string TokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    private long PendingCutoff => Now - (long)UserInteractiveAuth.SessionLifetime.TotalMilliseconds;

    /// <summary>
    /// Creates a token: the given one (1-64 characters of <c>[A-Za-z0-9._~-]</c>) or a random one of
    /// <paramref name="length"/> characters. 400 M_INVALID_PARAM for bad values or a token that exists.
    /// </summary>
    public async Task<RegistrationToken> CreateAsync(string? token, int? usesAllowed, long? expiryTime, int? length, CancellationToken ct)
    {
        CheckLimits(usesAllowed, expiryTime);
        if (token is not null)
        {
            if (token.Length is 0 or > MaxTokenLength || !token.All(TokenAlphabet.Contains))
            {
                throw MatrixException.InvalidParam($"token must consist of characters matching [A-Za-z0-9._~-] and be at most {MaxTokenLength} characters");
            }

            if (!await store.CreateAsync(token, usesAllowed, expiryTime, ct))
            {
                throw MatrixException.InvalidParam("Token already in use");
            }

            return new RegistrationToken(token, usesAllowed, 0, 0, expiryTime);
        }

        var n = length ?? 16;
        if (n is < 1 or > MaxTokenLength)
        {
            throw MatrixException.InvalidParam($"length must be an integer between 1 and {MaxTokenLength}");
        }

        while (true)
        {
            var generated = RandomNumberGenerator.GetString(TokenAlphabet.AsSpan(0, 62), n);
            if (await store.CreateAsync(generated, usesAllowed, expiryTime, ct))
            {
                return new RegistrationToken(generated, usesAllowed, 0, 0, expiryTime);
            }
        }
    }

    public async Task<RegistrationToken> GetAsync(string token, CancellationToken ct) =>
        await store.GetAsync(token, PendingCutoff, ct) ?? throw MatrixException.NotFound($"No such registration token: {token}");

    public Task<IReadOnlyList<RegistrationToken>> ListAsync(bool? valid, CancellationToken ct) => store.ListAsync(valid, Now, PendingCutoff, ct);

    public async Task<RegistrationToken> UpdateAsync(string token, Optional<int?> usesAllowed, Optional<long?> expiryTime, CancellationToken ct)
    {
        CheckLimits(usesAllowed.IsSet ? usesAllowed.Value : null, expiryTime.IsSet ? expiryTime.Value : null);
        return await store.UpdateAsync(token, usesAllowed, expiryTime, PendingCutoff, ct)
            ?? throw MatrixException.NotFound($"No such registration token: {token}");
    }

    public async Task DeleteAsync(string token, CancellationToken ct)
    {
        if (!await store.DeleteAsync(token, ct))
        {
            throw MatrixException.NotFound($"No such registration token: {token}");
        }
    }

    public Task<bool> IsValidAsync(string token, CancellationToken ct) => store.IsValidAsync(token, Now, PendingCutoff, ct);

    /// <summary>
    /// The <c>m.login.registration_token</c> UIA stage: a valid token completes it and counts as pending for the
    /// session; anything else is a failed stage (401 with M_UNAUTHORIZED, M_MISSING_PARAM or M_INVALID_PARAM).
    /// </summary>
    public async Task<bool> CheckStageAsync(JsonElement auth, string uiaSessionId, CancellationToken ct)
    {
        if (!auth.TryGetProperty("token", out var tokenElement) || tokenElement.ValueKind == JsonValueKind.Null)
        {
            throw new MatrixException(MatrixErrorCode.MissingParam, 401, "Missing registration token");
        }

        if (tokenElement.ValueKind != JsonValueKind.String)
        {
            throw new MatrixException(MatrixErrorCode.InvalidParam, 401, "Registration token must be a string");
        }

        if (!await store.TryReserveAsync(tokenElement.GetString()!, uiaSessionId, Now, PendingCutoff, ct))
        {
            throw new MatrixException(MatrixErrorCode.Unauthorized, 401, "Invalid registration token");
        }

        return true;
    }

    /// <summary>After the registration of this UIA session succeeded: its pending use of a token (if any) becomes completed.</summary>
    public Task CompleteAsync(string uiaSessionId, CancellationToken ct) => store.CompleteAsync(uiaSessionId, ct);

    private void CheckLimits(int? usesAllowed, long? expiryTime)
    {
        if (usesAllowed is < 0)
        {
            throw MatrixException.InvalidParam("uses_allowed must be a non-negative integer or null");
        }

        if (expiryTime is { } expiry && expiry < Now)
        {
            throw MatrixException.InvalidParam("expiry_time must not be in the past");
        }
    }
}
