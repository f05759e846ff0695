namespace Homeserver.Rooms.Services;

/// <summary>A user's profile as it goes into their membership events.</summary>
public sealed record MemberProfile(string? DisplayName, string? AvatarUrl);

/// <summary>Reads local users' profiles (implemented over the accounts store).</summary>
public interface IProfileLookup
{
    Task<MemberProfile?> GetLocalProfileAsync(string userId, CancellationToken ct);
}
