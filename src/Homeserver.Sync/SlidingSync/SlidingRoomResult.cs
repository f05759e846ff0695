using System.Text.Json;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Sync.SlidingSync;

/// <summary>A hero of a room without a name (MSC4186 <c>StrippedHero</c>).</summary>
public sealed record SlidingHero(string UserId, string? DisplayName, string? AvatarUrl);

/// <summary>One room of a sliding sync response; null fields are left out (unchanged, or not applicable).</summary>
public sealed class SlidingRoomResult(string roomId, string membership)
{
    public string RoomId { get; } = roomId;

    public string Membership { get; } = membership;

    public bool Initial { get; set; }

    public bool ExpandedTimeline { get; set; }

    /// <summary>Written when set (the room's name, on an initial send or when it changed).</summary>
    public string? Name { get; set; }

    public string? Avatar { get; set; }

    public List<SlidingHero>? Heroes { get; set; }

    public bool IsDm { get; set; }

    public List<StoredEvent> RequiredState { get; } = [];

    /// <summary>Null for rooms the user is invited to or knocked on (they get stripped state instead).</summary>
    public List<StoredEvent>? Timeline { get; set; }

    public bool? Limited { get; set; }

    public string? PrevBatch { get; set; }

    public int? NumLive { get; set; }

    public long? BumpStamp { get; set; }

    public int? JoinedCount { get; set; }

    public int? InvitedCount { get; set; }

    public List<JsonElement>? StrippedState { get; set; }

    public List<string> Lists { get; } = [];

    /// <summary>
    /// Whether the room says anything the client does not know yet (as Synapse decides it): a room sent before with
    /// nothing new (say, only events of ignored users arrived) is left out of the answer.
    /// </summary>
    public bool HasContent => Initial || ExpandedTimeline || Name is not null || Avatar is not null || Heroes is { Count: > 0 }
        || JoinedCount is not null || InvitedCount is not null || RequiredState.Count > 0 || Timeline is { Count: > 0 } || StrippedState is { Count: > 0 };
}
