using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Services;

/// <summary>
/// Rooms as the public room directory, the space hierarchy and the room summary describe them (PublicRoomsChunk), and
/// who may see such a description: anyone for public, knockable or world-readable rooms, members (joined or invited),
/// and for restricted rooms members of an allowed room (as Synapse's room summary handler).
/// </summary>
public sealed class RoomDescriptions(IRoomFeatureStore store, RoomService rooms, IRoomReadStore reads)
{
    public Task<IReadOnlyList<RoomDescription>> DescribeAsync(IReadOnlyCollection<long> roomNids, CancellationToken ct) => store.DescribeRoomsAsync(roomNids, ct);

    public async Task<RoomDescription?> DescribeAsync(RoomRecord room, CancellationToken ct) => (await store.DescribeRoomsAsync([room.RoomNid], ct)).FirstOrDefault();

    /// <summary>Whether a local user (or, with <paramref name="userId"/> null, an anonymous reader) may see the room's description.</summary>
    public async Task<bool> IsAccessibleToUserAsync(RoomDescription room, string? userId, CancellationToken ct)
    {
        if (IsOpen(room))
        {
            return true;
        }

        if (userId is null)
        {
            return false;
        }

        var record = await rooms.FindRoomAsync(room.RoomId, ct);
        if (record is not null && await rooms.GetMembershipAsync(record, userId, ct) is Membership.Join or Membership.Invite)
        {
            return true;
        }

        if (room.JoinRule is JoinRule.Restricted or JoinRule.KnockRestricted)
        {
            foreach (var allowed in room.AllowedRoomIds)
            {
                if (await rooms.FindRoomAsync(allowed, ct) is { } allowedRoom && await rooms.GetMembershipAsync(allowedRoom, userId, ct) == Membership.Join)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Whether another server may see the room's description: open rooms, rooms it has users in, and restricted rooms whose allowed rooms it is in.</summary>
    public async Task<bool> IsAccessibleToServerAsync(RoomDescription room, string origin, CancellationToken ct)
    {
        if (IsOpen(room) || await HasServerAsync(room.RoomNid, origin, ct))
        {
            return true;
        }

        if (room.JoinRule is JoinRule.Restricted or JoinRule.KnockRestricted)
        {
            foreach (var allowed in room.AllowedRoomIds)
            {
                if (await rooms.FindRoomAsync(allowed, ct) is { } allowedRoom && await HasServerAsync(allowedRoom.RoomNid, origin, ct))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// GET /room_summary/{roomIdOrAlias} (MSC3266): the room's description, version, encryption and the reader's
    /// membership, when the reader may see it; 404 otherwise, as for an unknown room.
    /// </summary>
    public async Task<JsonObject> GetSummaryAsync(string? userId, RoomRecord room, CancellationToken ct)
    {
        var description = await DescribeAsync(room, ct);
        if (description is null || !await IsAccessibleToUserAsync(description, userId, ct))
        {
            throw MatrixException.NotFound("Room not found or not accessible");
        }

        var summary = ToChunk(description);
        summary["room_version"] = description.RoomVersion;
        if (description.Encryption is not null)
        {
            summary["encryption"] = description.Encryption;
        }

        if (description.JoinRule is JoinRule.Restricted or JoinRule.KnockRestricted)
        {
            summary["allowed_room_ids"] = new JsonArray([.. description.AllowedRoomIds.Select(id => (JsonNode)JsonValue.Create(id))]);
        }

        if (userId is not null)
        {
            summary["membership"] = await rooms.GetMembershipAsync(room, userId, ct) ?? Membership.Leave;
        }

        return summary;
    }

    private static bool IsOpen(RoomDescription room) =>
        room.JoinRule is JoinRule.Public or JoinRule.Knock or JoinRule.KnockRestricted || room.WorldReadable;

    private async Task<bool> HasServerAsync(long roomNid, string server, CancellationToken ct) =>
        (await reads.GetMembersAsync(roomNid, ct)).Any(m => m.Membership is Membership.Join or Membership.Invite && MatrixId.ServerOf(m.UserId) == server);

    /// <summary>The PublicRoomsChunk of a room (client-server API, "Listing rooms").</summary>
    public static JsonObject ToChunk(RoomDescription room)
    {
        var chunk = new JsonObject
        {
            ["room_id"] = room.RoomId,
            ["num_joined_members"] = room.JoinedMembers,
            ["world_readable"] = room.WorldReadable,
            ["guest_can_join"] = room.GuestCanJoin,
            ["join_rule"] = room.JoinRule,
        };
        AddIfSet(chunk, "name", room.Name);
        AddIfSet(chunk, "topic", room.Topic);
        AddIfSet(chunk, "avatar_url", room.AvatarUrl);
        AddIfSet(chunk, "canonical_alias", room.CanonicalAlias);
        AddIfSet(chunk, "room_type", room.RoomType);
        return chunk;
    }

    private static void AddIfSet(JsonObject o, string name, string? value)
    {
        if (value is not null)
        {
            o[name] = value;
        }
    }
}
