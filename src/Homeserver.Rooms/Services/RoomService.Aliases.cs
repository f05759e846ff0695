using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Services;

public sealed partial class RoomService
{
    public const string CanonicalAliasType = "m.room.canonical_alias";

    /// <summary>The room's current power levels (defaults when it has none).</summary>
    public async Task<PowerLevels> GetPowerLevelsAsync(RoomRecord room, CancellationToken ct)
    {
        var create = await GetCurrentStateEventAsync(room, new StateKey(EventTypes.Create, string.Empty), ct);
        var powerLevels = await GetCurrentStateEventAsync(room, new StateKey(EventTypes.PowerLevels, string.Empty), ct);
        return PowerLevels.From(powerLevels, create, room.Version);
    }

    /// <summary>
    /// A client's <c>m.room.canonical_alias</c> may only name aliases that point to this room (client-server API,
    /// <c>m.room.canonical_alias</c>: "the server SHOULD return 400 M_BAD_ALIAS"). As Synapse, only aliases new
    /// compared to the current event are checked, so that an alias deleted since does not block other changes.
    /// </summary>
    private async Task ValidateCanonicalAliasAsync(RoomRecord room, JsonObject content, CancellationToken ct)
    {
        var previous = await GetCurrentStateEventAsync(room, new StateKey(CanonicalAliasType, string.Empty), ct);
        var known = new HashSet<string>(StringComparer.Ordinal);
        if (previous is not null && previous.Content.ValueKind == System.Text.Json.JsonValueKind.Object)
        {
            if (previous.Content.TryGetProperty("alias", out var a) && a.ValueKind == System.Text.Json.JsonValueKind.String)
            {
                known.Add(a.GetString()!);
            }

            if (previous.Content.TryGetProperty("alt_aliases", out var alts) && alts.ValueKind == System.Text.Json.JsonValueKind.Array)
            {
                known.UnionWith(alts.EnumerateArray().Where(x => x.ValueKind == System.Text.Json.JsonValueKind.String).Select(x => x.GetString()!));
            }
        }

        var named = new List<string>();
        switch (content["alias"])
        {
            case null:
                break;
            case JsonValue v when v.TryGetValue<string>(out var alias):
                named.Add(alias);
                break;
            default:
                throw MatrixException.InvalidParam("alias must be a string");
        }

        switch (content["alt_aliases"])
        {
            case null:
                break;
            case JsonArray list:
                foreach (var item in list)
                {
                    named.Add(item is JsonValue iv && iv.TryGetValue<string>(out var alt) ? alt : throw MatrixException.InvalidParam("alt_aliases must be a list of strings"));
                }

                break;
            default:
                throw MatrixException.InvalidParam("alt_aliases must be a list");
        }

        foreach (var alias in named.Where(a => !known.Contains(a)).Distinct())
        {
            if (!MatrixId.IsValidRoomAlias(alias))
            {
                throw MatrixException.InvalidParam($"{alias} is not a valid room alias");
            }

            (string RoomId, IReadOnlyList<string> Servers)? found;
            try
            {
                found = await directory.LookupAsync(alias, ct);
            }
            catch (MatrixException)
            {
                found = null;
            }

            if (found?.RoomId != room.RoomId)
            {
                throw new MatrixException(MatrixErrorCode.BadAlias, 400, $"Room alias {alias} does not point to the room");
            }
        }
    }

    /// <summary>
    /// POST /forget: only a user who left (or was banned from) the room may forget it; anyone else gets 400 as in
    /// Synapse. Forgetting a room one never was in does nothing.
    /// </summary>
    public async Task ForgetAsync(Requester requester, string roomId, IRoomFeatureStore features, CancellationToken ct)
    {
        if (await FindRoomAsync(roomId, ct) is not { } room)
        {
            return;
        }

        var eventId = await store.GetMembershipEventIdAsync(room.RoomNid, requester.UserId, ct);
        var member = eventId is null ? null : (await writer.GetEventsAsync([eventId], ct)).GetValueOrDefault(eventId);
        if (member?.Membership is { } membership && membership is not (Membership.Leave or Membership.Ban))
        {
            throw MatrixException.Unknown($"User {requester.UserId} is in room {roomId}");
        }

        await features.ForgetAsync(room.RoomNid, requester.UserId, ct);
    }

    /// <summary>
    /// A new join event carrying exactly the given profile (a profile change): nothing is sent when the current member
    /// event already says the same. The profile store is not consulted, so a removed display name stays removed.
    /// </summary>
    public async Task SendProfileUpdateAsync(Requester requester, RoomRecord room, JsonObject content, CancellationToken ct)
    {
        var current = await GetCurrentStateEventAsync(room, new StateKey(EventTypes.Member, requester.UserId), ct);
        if (current?.Membership != Membership.Join || SameProfile(current, content))
        {
            return;
        }

        await writer.SendAsync(room, new Events.EventDraft(EventTypes.Member, requester.UserId, content, requester.UserId), null, ct);
    }
}
