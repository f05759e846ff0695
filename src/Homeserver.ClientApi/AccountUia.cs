using System.Text.Json;
using Homeserver.Users;

namespace Homeserver.ClientApi;

/// <summary>
/// User-interactive auth with the user's password, for the requests that need the user to prove it is them
/// (password change, device deletion, deactivation, login tokens). The UIA session is bound to the user and to
/// <paramref name="purpose"/> (which names the operation and its target), and is spent once the request succeeds.
/// </summary>
internal static class AccountUia
{
    public static readonly IReadOnlyList<IReadOnlyList<string>> PasswordFlows = [["m.login.password"]];

    public static Task<string> RequirePasswordAsync(
        JsonElement body,
        string purpose,
        Authed auth,
        UserInteractiveAuth uia,
        AccountService accounts,
        CancellationToken ct,
        Func<string, Task>? onIncomplete = null) =>
        uia.AuthenticateAsync(
            body,
            purpose,
            auth.UserId,
            PasswordFlows,
            new Dictionary<string, object?>(),
            (stage, authDict, _, stageCt) => LoginIdentifiers.CheckPasswordStageAsync(authDict, auth.UserId, accounts, stageCt),
            ct,
            onIncomplete);
}
