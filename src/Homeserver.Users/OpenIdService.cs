using Homeserver.Core;
using Homeserver.Core.Configuration;

namespace Homeserver.Users;

/// <summary>An OpenID token for a third party (client-server spec "OpenID"), valid for <see cref="OpenIdService.Lifetime"/>.</summary>
public sealed record OpenIdToken(string AccessToken, string TokenType, string MatrixServerName, long ExpiresIn);

/// <summary>
/// OpenID tokens: a client gets one and hands it to a third party (an integration manager, a widget), which asks
/// our federation API <c>/openid/userinfo</c> who it belongs to. The token proves identity only; it grants no access.
/// </summary>
public sealed class OpenIdService(HomeserverConfig config, ITokenStore tokens, TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    public async Task<OpenIdToken> RequestTokenAsync(Requester requester, string userId, CancellationToken ct)
    {
        if (userId != requester.UserId)
        {
            throw MatrixException.Forbidden("Cannot request tokens for other users.");
        }

        var token = AccessTokens.NewOpenIdToken();
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await tokens.CreateOpenIdTokenAsync(AccessTokens.Hash(token), userId, now + (long)Lifetime.TotalMilliseconds, now, ct);
        return new OpenIdToken(token, "Bearer", config.ServerName, (long)Lifetime.TotalSeconds);
    }

    /// <summary>The user an unexpired OpenID token belongs to, or null.</summary>
    public Task<string?> GetUserAsync(string token, CancellationToken ct) =>
        tokens.FindOpenIdTokenAsync(AccessTokens.Hash(token), time.GetUtcNow().ToUnixTimeMilliseconds(), ct);
}
