using System.Text.Json;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Services;

/// <summary>
/// The ignored-users filter (client-server API, "Ignoring Users"): events from users in the reader's
/// <c>m.ignored_user_list</c> are dropped from what they read, except state events (as Synapse), so that the
/// room's state stays whole. Used by /messages and /context here, and meant for sync's timelines too.
/// </summary>
public sealed class IgnoredUsers(IIgnoredUsersStore store)
{
    public Task<IReadOnlySet<string>> GetAsync(string userId, CancellationToken ct) => store.GetIgnoredUsersAsync(userId, ct);

    /// <summary>The events without those of ignored senders (the same list when nobody is ignored).</summary>
    public static IReadOnlyList<StoredEvent> Apply(IReadOnlySet<string> ignored, IReadOnlyList<StoredEvent> events) =>
        ignored.Count == 0 ? events : events.Where(e => !IsHidden(ignored, e.Event)).ToList();

    public static bool IsHidden(IReadOnlySet<string> ignored, Pdu e) => e.StateKey is null && ignored.Contains(e.Sender);

    /// <summary>Loads the list and filters in one call.</summary>
    public async Task<IReadOnlyList<StoredEvent>> FilterAsync(string userId, IReadOnlyList<StoredEvent> events, CancellationToken ct) =>
        events.Count == 0 ? events : Apply(await GetAsync(userId, ct), events);

    /// <summary>The keys of <c>ignored_users</c> in the account data's content (client-written, so anything malformed counts as nobody).</summary>
    public static IReadOnlySet<string> Parse(string? content)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        if (content is null)
        {
            return result;
        }

        try
        {
            using var doc = JsonDocument.Parse(content);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("ignored_users", out var users) && users.ValueKind == JsonValueKind.Object)
            {
                result.UnionWith(users.EnumerateObject().Select(u => u.Name));
            }
        }
        catch (JsonException)
        {
            // A malformed list ignores nobody.
        }

        return result;
    }
}
