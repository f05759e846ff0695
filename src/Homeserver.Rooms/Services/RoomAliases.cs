using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Services;

/// <summary>
/// What clients do with room aliases (client-server API, "Room aliases"), with Synapse's permissions: members (or server
/// admins) create local aliases; the alias's creator, an admin, or a member allowed to send <c>m.room.canonical_alias</c>
/// deletes one; members, former members and anyone for world-readable rooms list a room's aliases.
/// </summary>
public sealed class RoomAliases(HomeserverConfig config, RoomDirectory directory, RoomService rooms, RoomReader reader)
{
    public async Task CreateAsync(Requester requester, string alias, string roomId, CancellationToken ct)
    {
        CheckLocal(alias);
        if (!MatrixId.IsValidRoomId(roomId))
        {
            throw MatrixException.InvalidParam("Invalid room ID");
        }

        var room = await rooms.FindRoomAsync(roomId, ct) ?? throw MatrixException.NotFound("Room not found");
        if (!requester.IsAdmin && await rooms.GetMembershipAsync(room, requester.UserId, ct) != Membership.Join)
        {
            throw MatrixException.Forbidden($"User {requester.UserId} is not in room {roomId}");
        }

        await directory.CreateAsync(alias, room.RoomId, requester.UserId, ct);
    }

    public async Task<JsonObject> ResolveAsync(string alias, CancellationToken ct)
    {
        var found = await directory.LookupAsync(alias, ct) ?? throw MatrixException.NotFound($"Room alias {alias} not found");
        return new JsonObject
        {
            ["room_id"] = found.RoomId,
            ["servers"] = new JsonArray([.. found.Servers.Select(s => (JsonNode)JsonValue.Create(s))]),
        };
    }

    public async Task DeleteAsync(Requester requester, string alias, CancellationToken ct)
    {
        CheckLocal(alias);
        var existing = await directory.GetLocalAsync(alias, ct) ?? throw MatrixException.NotFound("Unknown room alias");
        var room = await rooms.FindRoomAsync(existing.RoomId, ct);
        if (existing.Creator != requester.UserId && !requester.IsAdmin && !(room is not null && await MayChangeAliasesAsync(room, requester.UserId, ct)))
        {
            throw MatrixException.Forbidden("You don't have permission to delete the alias.");
        }

        await directory.DeleteAsync(alias, ct);
        if (room is not null)
        {
            await RemoveFromCanonicalAliasAsync(requester, room, alias, ct);
        }
    }

    /// <summary>GET /rooms/{roomId}/aliases: the local aliases of the room.</summary>
    public async Task<IReadOnlyList<string>> GetRoomAliasesAsync(string userId, RoomRecord room, CancellationToken ct)
    {
        await reader.RequireMayReadRoomAsync(userId, room, ct);
        return await directory.GetAliasesForRoomAsync(room.RoomId, ct);
    }

    /// <summary>A joined member whose power reaches the level of the <c>m.room.canonical_alias</c> state event (Synapse's check_can_change_room_list).</summary>
    public async Task<bool> MayChangeAliasesAsync(RoomRecord room, string userId, CancellationToken ct)
    {
        if (await rooms.GetMembershipAsync(room, userId, ct) != Membership.Join)
        {
            return false;
        }

        var levels = await rooms.GetPowerLevelsAsync(room, ct);
        return levels.GetUserLevel(userId) >= levels.GetEventLevel(RoomService.CanonicalAliasType, isState: true);
    }

    /// <summary>After deleting an alias, drops it from the room's canonical alias event (as Synapse; failures are ignored).</summary>
    private async Task RemoveFromCanonicalAliasAsync(Requester requester, RoomRecord room, string alias, CancellationToken ct)
    {
        var current = await rooms.GetCurrentStateEventAsync(room, new StateKey(RoomService.CanonicalAliasType, string.Empty), ct);
        if (current is null || current.Content.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        var content = JsonNode.Parse(current.Content.GetRawText())!.AsObject();
        var changed = false;
        if (content["alias"] is JsonValue v && v.TryGetValue<string>(out var main) && main == alias)
        {
            content.Remove("alias");
            changed = true;
        }

        if (content["alt_aliases"] is JsonArray alts)
        {
            var kept = alts.Where(a => !(a is JsonValue av && av.TryGetValue<string>(out var s) && s == alias)).Select(a => a?.DeepClone()).ToList();
            if (kept.Count != alts.Count)
            {
                content["alt_aliases"] = new JsonArray([.. kept]);
                changed = true;
            }
        }

        if (!changed)
        {
            return;
        }

        try
        {
            await rooms.SendAsync(requester, room, RoomService.CanonicalAliasType, string.Empty, content, null, ct);
        }
        catch (MatrixException)
        {
            // The deleter may not be allowed to change the room's state: the alias is gone all the same.
        }
    }

    private void CheckLocal(string alias)
    {
        if (!MatrixId.IsValidRoomAlias(alias) || alias.Any(char.IsWhiteSpace))
        {
            throw MatrixException.InvalidParam("Invalid room alias");
        }

        if (MatrixId.ServerOf(alias) != config.ServerName)
        {
            throw MatrixException.InvalidParam("Room alias must be local");
        }
    }
}
