using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Rooms.Auth;

/// <summary>
/// The creator(s) of a room, read from its <c>m.room.create</c> event.
/// v1-v10: <c>content.creator</c>; v11: the <c>sender</c> (implicit room creator);
/// v12+: the <c>sender</c> plus <c>content.additional_creators</c>, who are "privileged": infinite power level.
/// </summary>
public sealed class RoomCreators
{
    private static readonly RoomCreators None = new([], privileged: false);

    private readonly string[] userIds;

    private RoomCreators(string[] userIds, bool privileged)
    {
        this.userIds = userIds;
        Privileged = privileged;
    }

    /// <summary>The creator user IDs (the primary creator first). Empty when unknown.</summary>
    public IReadOnlyList<string> UserIds => userIds;

    /// <summary>The primary creator: the one whose join may follow the create event directly (join rule 1).</summary>
    public string? Primary => userIds.Length > 0 ? userIds[0] : null;

    /// <summary>v12+: creators have infinitely high power level and cannot appear in <c>users</c>.</summary>
    public bool Privileged { get; }

    public bool Contains(string userId)
    {
        foreach (var id in userIds)
        {
            if (id == userId)
            {
                return true;
            }
        }

        return false;
    }

    public static RoomCreators From(Pdu? create, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        if (create is null)
        {
            return None;
        }

        if (!version.ImplicitRoomCreator)
        {
            var creator = Json.GetString(create.Content, "creator");
            return creator is null ? None : new RoomCreators([creator], privileged: false);
        }

        if (!version.PrivilegedCreators)
        {
            return new RoomCreators([create.Sender], privileged: false);
        }

        var list = new List<string> { create.Sender };
        if (Json.TryGetProperty(create.Content, "additional_creators", out var extra) && extra.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in extra.EnumerateArray())
            {
                // A create event with a malformed list is rejected by rule 1.4; read tolerantly here.
                if (item.ValueKind == JsonValueKind.String && item.GetString() is { } id && !list.Contains(id))
                {
                    list.Add(id);
                }
            }
        }

        return new RoomCreators([.. list], privileged: true);
    }
}
