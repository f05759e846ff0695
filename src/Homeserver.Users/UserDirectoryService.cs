using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;

namespace Homeserver.Users;

/// <summary>
/// User directory search (client-server spec "User directory"). Results are local users whose user ID or display
/// name has a word starting with each search term; unless <c>user_directory.search_all_users</c>, only users who
/// share a room with the searcher or are in a public room (the store joins the rooms work's membership table).
/// </summary>
public sealed class UserDirectoryService(HomeserverConfig config, IUserDirectoryStore store)
{
    public const int DefaultLimit = 10;

    /// <summary>Synapse caps the limit at 50.</summary>
    public const int MaxLimit = 50;

    public async Task<JsonObject> SearchAsync(Requester requester, string searchTerm, long? limit, CancellationToken ct)
    {
        var n = (int)Math.Clamp(limit ?? DefaultLimit, 0, MaxLimit);
        var terms = Tokenise(searchTerm);
        var results = new JsonArray();
        var limited = false;
        if (config.Accounts.UserDirectoryEnabled && terms.Count > 0 && n > 0)
        {
            var found = await store.SearchAsync(requester.UserId, terms, config.Accounts.UserDirectorySearchAllUsers, n + 1, ct);
            limited = found.Count > n;
            foreach (var user in found.Take(n))
            {
                var entry = new JsonObject { ["user_id"] = user.UserId };
                if (user.DisplayName is not null)
                {
                    entry["display_name"] = user.DisplayName;
                }

                if (user.AvatarUrl is not null)
                {
                    entry["avatar_url"] = user.AvatarUrl;
                }

                results.Add(entry);
            }
        }

        return new JsonObject { ["limited"] = limited, ["results"] = results };
    }

    /// <summary>
    /// The stored search text of a user: every word of the user ID and display name, each preceded by a space,
    /// so that "some word starts with <c>term</c>" is <c>LIKE '% term%'</c> (see <see cref="Tokenise"/>).
    /// </summary>
    public static string SearchText(string userId, string? displayName) =>
        string.Concat(Tokenise(userId + " " + displayName, int.MaxValue).Select(w => " " + w));

    /// <summary>Lower-case words of the search term: letters and digits, split at everything else (at most 10).</summary>
    public static IReadOnlyList<string> Tokenise(string searchTerm, int maxWords = 10)
    {
        var words = new List<string>();
        var current = new System.Text.StringBuilder();
        foreach (var c in searchTerm.ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(c))
            {
                current.Append(c);
            }
            else if (current.Length > 0)
            {
                words.Add(current.ToString());
                current.Clear();
            }
        }

        if (current.Length > 0)
        {
            words.Add(current.ToString());
        }

        return words.Distinct().Take(maxWords).ToList();
    }
}
