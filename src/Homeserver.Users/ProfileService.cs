using Homeserver.Core;
using Homeserver.Core.Configuration;

namespace Homeserver.Users;

/// <summary>
/// Answers "profiles of remote users are not available" until the federation work registers its own
/// <see cref="IRemoteProfileProvider"/> (a 502, as Synapse answers when it cannot reach the other server).
/// </summary>
public sealed class NoRemoteProfiles : IRemoteProfileProvider
{
    public Task<Profile?> GetProfileAsync(string userId, CancellationToken ct) =>
        throw new MatrixException(MatrixErrorCode.Unknown, 502, "Failed to fetch profile: profiles on other servers are not available yet");
}

/// <summary>Display names and avatars (client-server spec "Profiles").</summary>
public sealed class ProfileService(
    HomeserverConfig config,
    IAccountStore accounts,
    IRemoteProfileProvider remote,
    IEnumerable<IProfileChangeListener> listeners)
{
    /// <summary>Synapse's limits.</summary>
    public const int MaxDisplayNameLength = 256;
    public const int MaxAvatarUrlLength = 1000;

    /// <summary>The profile of a local user (404 M_NOT_FOUND if there is none) or of a remote user (through the federation port).</summary>
    public async Task<Profile> GetProfileAsync(string userId, CancellationToken ct)
    {
        if (!MatrixId.IsValidUserId(userId))
        {
            throw MatrixException.InvalidParam("Invalid user id");
        }

        if (MatrixId.ServerOf(userId) != config.ServerName)
        {
            return await remote.GetProfileAsync(userId, ct) ?? throw MatrixException.NotFound("Profile was not found");
        }

        var user = await accounts.GetUserAsync(userId, ct) ?? throw MatrixException.NotFound("Profile was not found");
        return new Profile(user.DisplayName, user.AvatarUrl);
    }

    /// <summary>Sets the requester's own display name; an empty string or null removes it.</summary>
    public Task SetDisplayNameAsync(Requester requester, string userId, string? displayName, CancellationToken ct)
    {
        CheckOwnProfile(requester, userId);
        if (!config.Accounts.EnableSetDisplayName && !requester.IsAdmin)
        {
            throw MatrixException.Forbidden("Changing display name is disabled on this server");
        }

        if (displayName is { Length: > MaxDisplayNameLength })
        {
            throw MatrixException.InvalidParam($"Displayname is too long (max {MaxDisplayNameLength})");
        }

        return ChangeAsync(userId, accounts.SetDisplayNameAsync(userId, string.IsNullOrEmpty(displayName) ? null : displayName, ct), ct);
    }

    /// <summary>Sets the requester's own avatar URL; an empty string or null removes it.</summary>
    public Task SetAvatarUrlAsync(Requester requester, string userId, string? avatarUrl, CancellationToken ct)
    {
        CheckOwnProfile(requester, userId);
        if (!config.Accounts.EnableSetAvatarUrl && !requester.IsAdmin)
        {
            throw MatrixException.Forbidden("Changing avatar is disabled on this server");
        }

        if (avatarUrl is { Length: > MaxAvatarUrlLength })
        {
            throw MatrixException.InvalidParam($"Avatar URL is too long (max {MaxAvatarUrlLength})");
        }

        return ChangeAsync(userId, accounts.SetAvatarUrlAsync(userId, string.IsNullOrEmpty(avatarUrl) ? null : avatarUrl, ct), ct);
    }

    private async Task ChangeAsync(string userId, Task<bool> write, CancellationToken ct)
    {
        if (!await write)
        {
            throw MatrixException.NotFound("Profile was not found");
        }

        var profile = await GetProfileAsync(userId, ct);
        foreach (var listener in listeners)
        {
            await listener.OnProfileChangedAsync(userId, profile.DisplayName, profile.AvatarUrl, ct);
        }
    }

    private void CheckOwnProfile(Requester requester, string userId)
    {
        if (!MatrixId.IsValidUserId(userId))
        {
            throw MatrixException.InvalidParam("Invalid user id");
        }

        if (userId != requester.UserId)
        {
            throw MatrixException.Forbidden("Cannot change another user's profile");
        }
    }
}
