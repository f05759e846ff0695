namespace Homeserver.Users;

/// <summary>One change of account data, as /sync reads them: <see cref="RoomId"/> is empty for global account data.</summary>
public sealed record AccountDataChange(string RoomId, string Type, string Content, long StreamId);

/// <summary>Global and per-room account data (the <c>account_data</c> table). Contents are JSON object text.</summary>
public interface IAccountDataStore
{
    /// <summary>The content of one item, or null. <paramref name="roomId"/> is empty for global account data.</summary>
    Task<string?> GetAsync(string userId, string roomId, string type, CancellationToken ct);

    /// <summary>Inserts or replaces one item at stream position <paramref name="streamId"/>.</summary>
    Task SetAsync(string userId, string roomId, string type, string content, long streamId, CancellationToken ct);

    /// <summary>The user's items changed at stream positions in (<paramref name="fromExclusive"/>, <paramref name="toInclusive"/>], oldest first.</summary>
    Task<IReadOnlyList<AccountDataChange>> GetChangesAsync(string userId, long fromExclusive, long toInclusive, CancellationToken ct);
}

/// <summary>Filters uploaded by clients (<c>POST /user/{userId}/filter</c>).</summary>
public interface IFilterStore
{
    /// <summary>Stores a filter (canonical JSON) and returns its ID; the same filter uploaded again gets the same ID.</summary>
    Task<long> AddAsync(string userId, string canonicalJson, CancellationToken ct);

    Task<string?> GetAsync(string userId, long filterId, CancellationToken ct);
}

/// <summary>A registration token with its use counts (Synapse's admin API shape).</summary>
public sealed record RegistrationToken(string Token, int? UsesAllowed, int Pending, int Completed, long? ExpiryTime);

/// <summary>
/// Registration tokens. A token is valid while it has not expired and <c>pending + completed &lt; uses_allowed</c>.
/// "Pending" counts UIA sessions that passed the token stage but have not registered yet (sessions older than
/// the cutoff no longer count); "completed" counts registrations that used it.
/// </summary>
public interface IRegistrationTokenStore
{
    /// <summary>Creates a token; false if it already exists.</summary>
    Task<bool> CreateAsync(string token, int? usesAllowed, long? expiryTime, CancellationToken ct);

    Task<RegistrationToken?> GetAsync(string token, long pendingCutoffTs, CancellationToken ct);

    /// <summary>Every token; only valid (true) or only invalid (false) ones when <paramref name="valid"/> is set.</summary>
    Task<IReadOnlyList<RegistrationToken>> ListAsync(bool? valid, long nowTs, long pendingCutoffTs, CancellationToken ct);

    /// <summary>Changes the fields that are set (a field set to null removes its limit); null if there is no such token.</summary>
    Task<RegistrationToken?> UpdateAsync(string token, Optional<int?> usesAllowed, Optional<long?> expiryTime, long pendingCutoffTs, CancellationToken ct);

    Task<bool> DeleteAsync(string token, CancellationToken ct);

    Task<bool> IsValidAsync(string token, long nowTs, long pendingCutoffTs, CancellationToken ct);

    /// <summary>Atomically checks the token and counts it as pending for the UIA session; false if it is not valid.</summary>
    Task<bool> TryReserveAsync(string token, string uiaSessionId, long nowTs, long pendingCutoffTs, CancellationToken ct);

    /// <summary>After a successful registration: the session's pending use becomes a completed use.</summary>
    Task CompleteAsync(string uiaSessionId, CancellationToken ct);
}

/// <summary>A value that may be absent (not given) as opposed to given as null.</summary>
public readonly record struct Optional<T>(bool IsSet, T Value)
{
    public static Optional<T> Unset => default;

    public static Optional<T> Of(T value) => new(true, value);
}

/// <summary>One user directory search result.</summary>
public sealed record DirectoryUser(string UserId, string? DisplayName, string? AvatarUrl);

/// <summary>Search over local users' profiles.</summary>
public interface IUserDirectoryStore
{
    /// <summary>
    /// Active, non-guest local users whose user ID or display name contains a word starting with every one of
    /// <paramref name="terms"/> (lower-case). Unless <paramref name="searchAllUsers"/>, only the searcher and users
    /// sharing a joined room with the searcher or sitting in a public room. At most <paramref name="limit"/> results, best first.
    /// </summary>
    Task<IReadOnlyList<DirectoryUser>> SearchAsync(string searcherId, IReadOnlyList<string> terms, bool searchAllUsers, int limit, CancellationToken ct);
}

/// <summary>A user's public profile.</summary>
public sealed record Profile(string? DisplayName, string? AvatarUrl);

/// <summary>
/// Profiles of users on other servers. The federation work implements this with
/// <c>GET /_matrix/federation/v1/query/profile</c>; until then <see cref="NoRemoteProfiles"/> answers
/// that remote profiles are not available.
/// </summary>
public interface IRemoteProfileProvider
{
    /// <summary>The remote user's profile, or null if their server says they do not exist.</summary>
    Task<Profile?> GetProfileAsync(string userId, CancellationToken ct);
}

/// <summary>
/// Told when a local account is deactivated, after its sessions, devices and account data are gone. The rooms
/// work implements this to make the user leave every room (and reject invites); several listeners may be registered.
/// </summary>
public interface IAccountDeactivationListener
{
    Task OnAccountDeactivatedAsync(string userId, bool erase, CancellationToken ct);
}
