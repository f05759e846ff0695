using Homeserver.Rooms.Services;
using Homeserver.Users;

namespace Homeserver.Host;

/// <summary>Feeds local users' profiles (accounts) into their membership events (rooms).</summary>
internal sealed class ProfileLookup(IAccountStore accounts) : IProfileLookup
{
    public async Task<MemberProfile?> GetLocalProfileAsync(string userId, CancellationToken ct)
    {
        var user = await accounts.GetUserAsync(userId, ct);
        return user is null ? null : new MemberProfile(user.DisplayName, user.AvatarUrl);
    }

    public async Task<bool> IsGuestAsync(string userId, CancellationToken ct) => (await accounts.GetUserAsync(userId, ct))?.IsGuest ?? false;
}
