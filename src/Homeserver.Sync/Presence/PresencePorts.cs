namespace Homeserver.Sync.Presence;

/// <summary>Persisted presence of our users and other servers' (implemented by Homeserver.Storage, table <c>presence</c>) and who may see it.</summary>
public interface IPresenceStore
{
    /// <summary>The persisted presence of these users (users without a row are absent).</summary>
    Task<IReadOnlyList<UserPresence>> GetAsync(IReadOnlyCollection<string> userIds, CancellationToken ct);

    /// <summary>Writes a user's presence at the stream position in <see cref="UserPresence.StreamId"/>.</summary>
    Task UpsertAsync(UserPresence presence, CancellationToken ct);

    /// <summary>Presence rows written in (<paramref name="afterStream"/>, <paramref name="upToStream"/>], at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<UserPresence>> GetChangedAsync(long afterStream, long upToStream, int limit, CancellationToken ct);

    /// <summary>Every user joined to a room that <paramref name="userId"/> is joined to (the user included when joined anywhere).</summary>
    Task<IReadOnlyCollection<string>> GetUsersSharingRoomAsync(string userId, CancellationToken ct);

    /// <summary>Those of <paramref name="candidates"/> who are joined to a room <paramref name="userId"/> is joined to.</summary>
    Task<IReadOnlyCollection<string>> FilterUsersSharingRoomAsync(string userId, IReadOnlyCollection<string> candidates, CancellationToken ct);

    /// <summary>Those of <paramref name="userIds"/> who are joined to a room where a user of <paramref name="server"/> is joined.</summary>
    Task<IReadOnlyCollection<string>> FilterUsersSharingRoomWithServerAsync(IReadOnlyCollection<string> userIds, string server, CancellationToken ct);

    /// <summary>The persisted presence, other than offline, of users of servers other than <paramref name="ourServer"/>.</summary>
    Task<IReadOnlyList<UserPresence>> GetActiveRemoteAsync(string ourServer, CancellationToken ct);
}
