using System.Text.Json;

namespace Homeserver.Sync.Rooms;

/// <summary>
/// The users a user ignores (client-server API, "Ignoring users": the <c>m.ignored_user_list</c> account data).
/// Read afresh for every sync computation, so that a change applies to the very next answer of every client (the
/// spec's "immediately"); nothing derived from it is cached. Sync leaves out the non-state events these users send
/// and the invites they send; state events are kept, so that the room looks the same to everyone.
/// </summary>
public sealed class IgnoredUsers(ISyncDataStore data)
{
    public const string AccountDataType = "m.ignored_user_list";

    private static readonly IReadOnlySet<string> None = new HashSet<string>();

    /// <summary>Whom <paramref name="userId"/> ignores (never themselves: their own events always reach them).</summary>
    public async Task<IReadOnlySet<string>> GetAsync(string userId, CancellationToken ct)
    {
        var ignored = Parse(await data.GetGlobalAccountDataAsync(userId, AccountDataType, ct));
        if (!ignored.Contains(userId))
        {
            return ignored;
        }

        var others = new HashSet<string>(ignored, StringComparer.Ordinal);
        others.Remove(userId);
        return others;
    }

    /// <summary>The keys of <c>ignored_users</c> (client-written, so anything malformed counts as nobody).</summary>
    public static IReadOnlySet<string> Parse(string? content)
    {
        if (content is null)
        {
            return None;
        }

        try
        {
            using var doc = JsonDocument.Parse(content);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("ignored_users", out var users) && users.ValueKind == JsonValueKind.Object
                ? users.EnumerateObject().Select(u => u.Name).ToHashSet(StringComparer.Ordinal)
                : None;
        }
        catch (JsonException)
        {
            return None;
        }
    }
}
