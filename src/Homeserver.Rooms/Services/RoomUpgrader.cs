using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;

namespace Homeserver.Rooms.Services;

/// <summary>
/// POST /rooms/{roomId}/upgrade (client-server API, "Room Upgrades"), as Synapse does it:
/// <list type="number">
/// <item>the requester must be joined and allowed to send <c>m.room.tombstone</c>; the version must be known;</item>
/// <item>the new room is created in one atomic batch: <c>m.room.create</c> with <c>predecessor</c> (and the old room's
/// <c>type</c> and <c>m.federate</c>), the requester's join, power levels that let the requester copy everything, the
/// transferable state (join rules, name, topic, avatar, history visibility, guest access, encryption, server ACL,
/// related groups, a space's children), the bans, then the old power levels (v12: without the creators);</item>
/// <item>the tombstone is sent in the old room, whose power levels are then restricted (events_default and invite
/// raised to max(50, users_default + 1));</item>
/// <item>local aliases move to the new room, with the canonical alias, and the directory listing moves too.</item>
/// </list>
/// Members are not invited (Synapse does not; clients such as Element offer it).
/// </summary>
public sealed class RoomUpgrader(RoomService rooms, RoomWriter writer, RoomDirectory directory, IProfileLookup profiles)
{
    public const string Tombstone = "m.room.tombstone";

    /// <summary>The private_chat preset's events, for the copied types the old room does not have.</summary>
    private static readonly Dictionary<string, KeyValuePair<string, string>> PresetDefaults = new(StringComparer.Ordinal)
    {
        [EventTypes.JoinRules] = new("join_rule", "invite"),
        ["m.room.history_visibility"] = new("history_visibility", "shared"),
        ["m.room.guest_access"] = new("guest_access", "can_join"),
    };

    private static readonly string[] CopiedTypes =
    [
        EventTypes.JoinRules, "m.room.name", "m.room.topic", "m.room.avatar", "m.room.history_visibility", "m.room.guest_access",
        "m.room.encryption", "m.room.server_acl", "m.room.related_groups",
    ];

    public async Task<string> UpgradeAsync(Requester requester, RoomRecord old, string newVersionId, IReadOnlyList<string>? additionalCreators, CancellationToken ct)
    {
        var version = RoomVersion.Find(newVersionId)
            ?? throw new MatrixException(MatrixErrorCode.UnsupportedRoomVersion, 400, $"Room version {newVersionId} is not supported");
        foreach (var creator in additionalCreators ?? [])
        {
            if (!MatrixId.IsValidUserId(creator))
            {
                throw MatrixException.InvalidParam($"Invalid user ID {creator}");
            }
        }

        var head = await rooms.GetHeadAsync(old, ct);
        var state = await writer.GetEventsAsync(head.State.Values.ToList(), ct);
        var byKey = head.State.Where(kv => state.ContainsKey(kv.Value)).ToDictionary(kv => kv.Key, kv => state[kv.Value]);
        if (RoomState.GetMembership(byKey, requester.UserId) != Membership.Join)
        {
            throw MatrixException.Forbidden($"User {requester.UserId} is not in room {old.RoomId}");
        }

        var oldLevels = RoomState.GetPowerLevels(byKey, old.Version);
        if (oldLevels.GetUserLevel(requester.UserId) < oldLevels.GetEventLevel(Tombstone, isState: true))
        {
            throw MatrixException.Forbidden("You don't have permission to upgrade the room");
        }

        var profile = await profiles.GetLocalProfileAsync(requester.UserId, ct);
        RoomRecord newRoom;
        if (version.RoomIdIsCreateEventHash)
        {
            // The new room's ID is the hash of its create event, so the tombstone (which names the new room) can only
            // follow it, and the predecessor names the old room's latest event instead (the spec allows that).
            var latest = head.ForwardExtremities.OrderByDescending(e => e.Depth).FirstOrDefault()?.EventId;
            var drafts = BuildNewRoom(requester.UserId, old, version, byKey, oldLevels, additionalCreators ?? [], latest, profile);
            (newRoom, _) = await writer.CreateRoomAsync(version, string.Empty, drafts, ct);
            await SendTombstoneAsync(requester, old, newRoom.RoomId, ct);
        }
        else
        {
            // The new room's ID is chosen up front, so the tombstone goes first and the new room's predecessor names
            // it, as Synapse does and clients following the tombstone expect. The drafts are built (and validated)
            // before the tombstone is sent, so that nothing but a storage failure can leave a tombstone without a room.
            var newRoomId = rooms.NewRoomId();
            var drafts = BuildNewRoom(requester.UserId, old, version, byKey, oldLevels, additionalCreators ?? [], null, profile);
            var tombstoneId = await SendTombstoneAsync(requester, old, newRoomId, ct);
            SetPredecessorEvent(drafts, tombstoneId);
            (newRoom, _) = await writer.CreateRoomAsync(version, newRoomId, drafts, ct);
        }

        await rooms.NotifyJoinedSuccessorAsync(newRoom, requester.UserId, ct);
        await RestrictOldRoomAsync(requester, old, byKey, ct);
        await directory.MoveToSuccessorAsync(old.RoomId, newRoom.RoomId, ct);
        await MoveCanonicalAliasAsync(requester, old, newRoom, byKey, ct);

        return newRoom.RoomId;
    }

    private async Task<string> SendTombstoneAsync(Requester requester, RoomRecord old, string newRoomId, CancellationToken ct)
    {
        var tombstone = await rooms.SendAsync(requester, old, Tombstone, string.Empty, new JsonObject
        {
            ["body"] = "This room has been replaced",
            ["replacement_room"] = newRoomId,
        }, null, ct);
        return tombstone.EventId;
    }

    /// <summary>Points the create draft's <c>predecessor</c> at <paramref name="eventId"/>.</summary>
    private static void SetPredecessorEvent(List<EventDraft> drafts, string eventId)
    {
        var create = drafts.First(d => d.Type == EventTypes.Create);
        create.Content["predecessor"]!["event_id"] = eventId;
    }

    private static List<EventDraft> BuildNewRoom(
        string upgrader, RoomRecord old, RoomVersion version, Dictionary<StateKey, Pdu> state, PowerLevels oldLevels,
        IReadOnlyList<string> additionalCreators, string? predecessorEventId, MemberProfile? profile)
    {
        var drafts = new List<EventDraft>();
        var oldCreate = RoomState.GetCreateEvent(state);
        var create = new JsonObject { ["room_version"] = version.Id };
        if (!version.ImplicitRoomCreator)
        {
            create["creator"] = upgrader;
        }

        var predecessor = new JsonObject { ["room_id"] = old.RoomId };
        if (predecessorEventId is not null)
        {
            predecessor["event_id"] = predecessorEventId;
        }

        create["predecessor"] = predecessor;
        string? roomType = null;
        if (oldCreate is not null && oldCreate.Content.ValueKind == JsonValueKind.Object)
        {
            if (oldCreate.Content.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String)
            {
                roomType = type.GetString();
                create["type"] = roomType;
            }

            if (oldCreate.Content.TryGetProperty("m.federate", out var federate) && federate.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                create["m.federate"] = federate.GetBoolean();
            }
        }

        var creators = new HashSet<string>(StringComparer.Ordinal) { upgrader };
        if (version.PrivilegedCreators && additionalCreators.Count > 0)
        {
            create["additional_creators"] = new JsonArray([.. additionalCreators.Distinct().Select(c => (JsonNode)JsonValue.Create(c))]);
            creators.UnionWith(additionalCreators);
        }

        drafts.Add(new EventDraft(EventTypes.Create, string.Empty, create, upgrader));
        drafts.Add(new EventDraft(EventTypes.Member, upgrader, RoomService.MemberContent(Membership.Join, profile), upgrader));

        // The old power levels, with the creators of a v12 room left out (they may not be listed there).
        var levels = state.TryGetValue(new StateKey(EventTypes.PowerLevels, string.Empty), out var pl) && pl.Content.ValueKind == JsonValueKind.Object
            ? JsonNode.Parse(pl.Content.GetRawText())!.AsObject()
            : new JsonObject();
        var users = levels["users"] as JsonObject ?? new JsonObject();
        levels["users"] = users;
        if (version.PrivilegedCreators)
        {
            foreach (var c in creators)
            {
                users.Remove(c);
            }
        }
        else if (old.Version.PrivilegedCreators)
        {
            // Leaving a v12 room for an older version: the old room's creators keep their power as plain users.
            foreach (var c in oldLevels.Creators.UserIds)
            {
                users[c] = 100;
            }
        }

        var finalLevels = levels.DeepClone().AsObject();
        var temporary = levels.DeepClone().AsObject();
        if (!version.PrivilegedCreators)
        {
            // As Synapse: the upgrader gets enough power to copy every state event and the bans, restored at the end.
            var needed = Math.Max(Math.Max(oldLevels.StateDefault, oldLevels.Ban), oldLevels.Events.Values.DefaultIfEmpty(0).Max());
            needed = Math.Max(needed, oldLevels.GetUserLevel(upgrader) == PowerLevels.CreatorLevel ? 100 : oldLevels.GetUserLevel(upgrader));
            ((JsonObject)temporary["users"]!)[upgrader] = needed;
        }

        drafts.Add(new EventDraft(EventTypes.PowerLevels, string.Empty, temporary, upgrader));
        foreach (var type in CopiedTypes)
        {
            if (state.TryGetValue(new StateKey(type, string.Empty), out var e) && e.Content.ValueKind == JsonValueKind.Object)
            {
                drafts.Add(new EventDraft(type, string.Empty, JsonNode.Parse(e.Content.GetRawText())!.AsObject(), upgrader));
            }
            else if (PresetDefaults.TryGetValue(type, out var preset))
            {
                // As Synapse, which builds the new room with the private_chat preset under the copied state: what the
                // old room lacks comes from the preset (an old public room without m.room.guest_access gets can_join).
                drafts.Add(new EventDraft(type, string.Empty, new JsonObject { [preset.Key] = preset.Value }, upgrader));
            }
        }

        if (roomType == "m.space")
        {
            foreach (var (key, e) in state.Where(kv => kv.Key.Type == SpaceHierarchy.SpaceChild).OrderBy(kv => kv.Key.Key, StringComparer.Ordinal))
            {
                if (e.Content.ValueKind == JsonValueKind.Object && e.Content.EnumerateObject().Any())
                {
                    drafts.Add(new EventDraft(key.Type, key.Key, JsonNode.Parse(e.Content.GetRawText())!.AsObject(), upgrader));
                }
            }
        }

        // Bans carry over (MSC4167, as Synapse).
        foreach (var (key, e) in state.Where(kv => kv.Key.Type == EventTypes.Member && kv.Value.Membership == Membership.Ban).OrderBy(kv => kv.Key.Key, StringComparer.Ordinal))
        {
            var ban = new JsonObject { ["membership"] = Membership.Ban };
            if (e.Content.TryGetProperty("reason", out var reason) && reason.ValueKind == JsonValueKind.String)
            {
                ban["reason"] = reason.GetString();
            }

            drafts.Add(new EventDraft(EventTypes.Member, key.Key, ban, upgrader));
        }

        if (!JsonNode.DeepEquals(temporary, finalLevels))
        {
            drafts.Add(new EventDraft(EventTypes.PowerLevels, string.Empty, finalLevels, upgrader));
        }

        return drafts;
    }

    /// <summary>Raises events_default and invite in the old room so that it goes quiet (errors are ignored, as Synapse).</summary>
    private async Task RestrictOldRoomAsync(Requester requester, RoomRecord old, Dictionary<StateKey, Pdu> state, CancellationToken ct)
    {
        if (!state.TryGetValue(new StateKey(EventTypes.PowerLevels, string.Empty), out var pl) || pl.Content.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        var levels = RoomState.GetPowerLevels(state, old.Version);
        var restricted = Math.Max(levels.UsersDefault + 1, 50);
        var content = JsonNode.Parse(pl.Content.GetRawText())!.AsObject();
        var changed = false;
        if (levels.EventsDefault < restricted)
        {
            content["events_default"] = restricted;
            changed = true;
        }

        if (levels.Invite < restricted)
        {
            content["invite"] = restricted;
            changed = true;
        }

        if (!changed)
        {
            return;
        }

        try
        {
            await rooms.SendAsync(requester, old, EventTypes.PowerLevels, string.Empty, content, null, ct);
        }
        catch (MatrixException)
        {
            // The upgrader may not be allowed to change the power levels; the room is replaced all the same.
        }
    }

    /// <summary>The canonical alias follows our aliases (moved by RoomDirectory.MoveToSuccessorAsync) to the new room.</summary>
    private async Task MoveCanonicalAliasAsync(Requester requester, RoomRecord old, RoomRecord replacement, Dictionary<StateKey, Pdu> state, CancellationToken ct)
    {
        if (!state.TryGetValue(new StateKey(RoomService.CanonicalAliasType, string.Empty), out var canonical)
            || canonical.Content.ValueKind != JsonValueKind.Object || !canonical.Content.EnumerateObject().Any())
        {
            return;
        }

        try
        {
            await rooms.SendAsync(requester, old, RoomService.CanonicalAliasType, string.Empty, new JsonObject(), null, ct);
        }
        catch (MatrixException)
        {
            // Not allowed in the old room: keep going.
        }

        // Only the aliases that now point to the new room (ours, moved above) can be its canonical aliases.
        var content = new JsonObject();
        if (canonical.Content.TryGetProperty("alias", out var alias) && alias.ValueKind == JsonValueKind.String
            && await PointsToAsync(alias.GetString()!, replacement.RoomId, ct))
        {
            content["alias"] = alias.GetString();
        }

        if (canonical.Content.TryGetProperty("alt_aliases", out var alts) && alts.ValueKind == JsonValueKind.Array)
        {
            var kept = new JsonArray();
            foreach (var alt in alts.EnumerateArray().Where(a => a.ValueKind == JsonValueKind.String))
            {
                if (await PointsToAsync(alt.GetString()!, replacement.RoomId, ct))
                {
                    kept.Add(alt.GetString());
                }
            }

            if (kept.Count > 0)
            {
                content["alt_aliases"] = kept;
            }
        }

        if (content.Count > 0)
        {
            try
            {
                await rooms.SendAsync(requester, replacement, RoomService.CanonicalAliasType, string.Empty, content, null, ct);
            }
            catch (MatrixException)
            {
                // Best effort, as Synapse.
            }
        }
    }

    private async Task<bool> PointsToAsync(string alias, string roomId, CancellationToken ct) =>
        MatrixId.IsValidRoomAlias(alias) && (await directory.GetLocalAsync(alias, ct))?.RoomId == roomId;
}
