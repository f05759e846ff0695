using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Crypto;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;

namespace Homeserver.Rooms.Services;

/// <summary>
/// What clients do to rooms: create them, send events and state, and change memberships. Checks the
/// client-level rules the auth rules do not cover, then hands events to the room's writer, which
/// applies the room version's authorisation rules against the current state.
/// </summary>
public sealed partial class RoomService(
    HomeserverConfig config,
    IRoomStore store,
    RoomWriter writer,
    IProfileLookup profiles,
    RoomDirectory directory,
    IRemoteMembership? remote = null,
    RestrictedJoins? restrictedJoins = null,
    IRoomSuccessionListener? succession = null)
{
    private readonly ConcurrentDictionary<string, RoomRecord> _rooms = new(StringComparer.Ordinal);

    public string ServerName => config.ServerName;

    /// <summary>The room, or null when this server does not know it.</summary>
    public async Task<RoomRecord?> FindRoomAsync(string roomId, CancellationToken ct)
    {
        if (_rooms.TryGetValue(roomId, out var room))
        {
            return room;
        }

        room = await store.GetRoomAsync(roomId, ct);
        if (room is not null)
        {
            _rooms[roomId] = room;
        }

        return room;
    }

    /// <summary>The record of a room first heard of from another server (an invite, a join), created if needed.</summary>
    public async Task<RoomRecord> GetOrCreateRemoteRoomAsync(string roomId, RoomVersion version, CancellationToken ct)
    {
        if (await FindRoomAsync(roomId, ct) is { } found)
        {
            return found;
        }

        try
        {
            var created = await store.CreateRoomAsync(roomId, version, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), ct);
            _rooms[roomId] = created;
            return created;
        }
        catch (MatrixException e) when (e.ErrorCode == MatrixErrorCode.RoomInUse)
        {
            return await GetRoomAsync(roomId, ct);
        }
    }

    public async Task<RoomRecord> GetRoomAsync(string roomId, CancellationToken ct) =>
        await FindRoomAsync(roomId, ct) ?? throw MatrixException.NotFound("Unknown room");

    /// <summary>The current head (state and extremities) of a room, from its writer's cache.</summary>
    public Task<RoomHead> GetHeadAsync(RoomRecord room, CancellationToken ct) => writer.GetHeadAsync(room, ct);

    public Task<IReadOnlyDictionary<string, Pdu>> GetEventsAsync(IReadOnlyCollection<string> ids, CancellationToken ct) => writer.GetEventsAsync(ids, ct);

    /// <summary>The current state event for a key, or null.</summary>
    public async Task<Pdu?> GetCurrentStateEventAsync(RoomRecord room, StateKey key, CancellationToken ct)
    {
        var head = await writer.GetHeadAsync(room, ct);
        if (!head.State.TryGetValue(key, out var id))
        {
            return null;
        }

        return (await writer.GetEventsAsync([id], ct)).GetValueOrDefault(id);
    }

    public async Task<string?> GetMembershipAsync(RoomRecord room, string userId, CancellationToken ct) =>
        (await GetCurrentStateEventAsync(room, new StateKey(EventTypes.Member, userId), ct))?.Membership;

    /// <summary>
    /// POST /createRoom: the events of a new room, in the order the spec gives
    /// (create, creator's join, power levels, alias, join rules, history visibility, guest access,
    /// initial state, name, topic, invites).
    /// </summary>
    public async Task<(RoomRecord Room, IReadOnlyList<SendResult> Events)> CreateRoomAsync(Requester requester, CreateRoomRequest request, CancellationToken ct)
    {
        var versionId = request.RoomVersion ?? config.DefaultRoomVersion;
        var version = RoomVersion.Find(versionId)
            ?? throw new MatrixException(MatrixErrorCode.UnsupportedRoomVersion, 400, $"Room version {versionId} is not supported");
        var preset = request.Preset ?? (request.Visibility == "public" ? "public_chat" : "private_chat");
        if (preset is not ("private_chat" or "public_chat" or "trusted_private_chat"))
        {
            throw MatrixException.BadJson($"Unknown preset {preset}");
        }

        foreach (var invitee in request.Invite)
        {
            if (!MatrixId.IsValidUserId(invitee))
            {
                throw MatrixException.InvalidParam($"Invalid user ID {invitee}");
            }
        }

        string? alias = null;
        if (request.RoomAliasName is not null)
        {
            alias = $"#{request.RoomAliasName}:{config.ServerName}";
            if (!MatrixId.IsValidRoomAlias(alias) || request.RoomAliasName.Contains(':') || request.RoomAliasName.Contains(' '))
            {
                throw new MatrixException(MatrixErrorCode.InvalidParam, 400, "Invalid room_alias_name");
            }

            if (await directory.GetLocalAsync(alias, ct) is not null)
            {
                throw new MatrixException(MatrixErrorCode.RoomInUse, 400, "Room alias already taken");
            }
        }

        var creator = requester.UserId;
        var drafts = new List<EventDraft>();

        var createContent = request.CreationContent?.DeepClone().AsObject() ?? new JsonObject();
        createContent["room_version"] = version.Id;
        if (!version.ImplicitRoomCreator)
        {
            createContent["creator"] = creator;
        }

        drafts.Add(new EventDraft(EventTypes.Create, string.Empty, createContent, creator));

        var profile = await profiles.GetLocalProfileAsync(creator, ct);
        drafts.Add(new EventDraft(EventTypes.Member, creator, MemberContent(Membership.Join, profile), creator));

        var initialState = request.InitialState.ToDictionary(s => new StateKey(s.Type, s.StateKey), s => s.Content);
        if (initialState.Remove(new StateKey(EventTypes.PowerLevels, string.Empty), out var initialPowerLevels))
        {
            drafts.Add(new EventDraft(EventTypes.PowerLevels, string.Empty, initialPowerLevels, creator));
        }
        else
        {
            drafts.Add(new EventDraft(EventTypes.PowerLevels, string.Empty, DefaultPowerLevels(version, creator, preset, request), creator));
        }

        if (alias is not null && !initialState.ContainsKey(new StateKey("m.room.canonical_alias", string.Empty)))
        {
            drafts.Add(new EventDraft("m.room.canonical_alias", string.Empty, new JsonObject { ["alias"] = alias }, creator));
        }

        AddUnlessGiven(drafts, initialState, EventTypes.JoinRules, new JsonObject { ["join_rule"] = preset == "public_chat" ? JoinRule.Public : JoinRule.Invite }, creator);
        AddUnlessGiven(drafts, initialState, "m.room.history_visibility", new JsonObject { ["history_visibility"] = "shared" }, creator);
        if (preset != "public_chat")
        {
            AddUnlessGiven(drafts, initialState, "m.room.guest_access", new JsonObject { ["guest_access"] = "can_join" }, creator);
        }

        foreach (var (key, content) in initialState)
        {
            drafts.Add(new EventDraft(key.Type, key.Key, content, creator));
        }

        if (request.Name is not null)
        {
            drafts.Add(new EventDraft("m.room.name", string.Empty, new JsonObject { ["name"] = request.Name }, creator));
        }

        if (request.Topic is not null)
        {
            drafts.Add(new EventDraft("m.room.topic", string.Empty, new JsonObject { ["topic"] = request.Topic }, creator));
        }

        // Local invitees are invited in the same batch; other servers must sign their users' invites, so those follow.
        foreach (var invitee in request.Invite.Distinct().Where(i => MatrixId.ServerOf(i) == config.ServerName))
        {
            var content = MemberContent(Membership.Invite, await profiles.GetLocalProfileAsync(invitee, ct));
            if (request.IsDirect)
            {
                content["is_direct"] = true;
            }

            drafts.Add(new EventDraft(EventTypes.Member, invitee, content, creator));
        }

        var roomId = version.RoomIdIsCreateEventHash ? string.Empty : NewRoomId();
        var (room, events) = await writer.CreateRoomAsync(version, roomId, drafts, ct);
        _rooms[room.RoomId] = room;
        if (alias is not null)
        {
            await directory.CreateAsync(alias, room.RoomId, creator, ct);
        }

        if (request.Visibility == "public")
        {
            await directory.SetPublishedAsync(room.RoomId, true, ct);
        }

        foreach (var invitee in request.Invite.Distinct().Where(i => MatrixId.ServerOf(i) != config.ServerName))
        {
            var extra = request.IsDirect ? new JsonObject { ["is_direct"] = true } : null;
            try
            {
                await SetMembershipAsync(requester, room, invitee, Membership.Invite, null, extra, ct);
            }
            catch (MatrixException)
            {
                // As Synapse: the room exists; an invite the other server refused is simply not sent.
            }
        }

        return (room, events);
    }

    /// <summary>Sends a message-like or state event as the requester.</summary>
    public async Task<SendResult> SendAsync(Requester requester, RoomRecord room, string type, string? stateKey, JsonObject content, string? txnId, CancellationToken ct)
    {
        if (type == EventTypes.Create)
        {
            throw MatrixException.Forbidden("Cannot send m.room.create into an existing room");
        }

        if (type == CanonicalAliasType && stateKey == string.Empty)
        {
            await ValidateCanonicalAliasAsync(room, content, ct);
        }

        if (stateKey is not null && await FindSameStateAsync(room, type, stateKey, content, requester.UserId, ct) is { } same)
        {
            return same;
        }

        var txn = txnId is null ? null : new TransactionRef(requester.UserId, requester.DeviceId, txnId);
        string? redacts = null;
        if (type == EventTypes.Redaction)
        {
            redacts = content["redacts"]?.GetValue<string>();
        }

        return await writer.SendAsync(room, new EventDraft(type, stateKey, content, requester.UserId, redacts), txn, ct);
    }

    /// <summary>
    /// The current state event a state send would only repeat: same sender, same content (compared as canonical
    /// JSON). Synapse answers such a send with the existing event instead of adding an identical one to the DAG.
    /// </summary>
    private async Task<SendResult?> FindSameStateAsync(RoomRecord room, string type, string stateKey, JsonObject content, string sender, CancellationToken ct)
    {
        var current = await GetCurrentStateEventAsync(room, new StateKey(type, stateKey), ct);
        if (current is null || current.Sender != sender)
        {
            return null;
        }

        try
        {
            var mode = CanonicalJson.ModeFor(room.Version);
            return CanonicalJson.Encode(content, mode).AsSpan().SequenceEqual(CanonicalJson.Encode(current.Content, mode))
                ? new SendResult(current.EventId, null, current)
                : null;
        }
        catch (CanonicalJsonException)
        {
            // Not canonical JSON: the writer refuses it with the reason.
            return null;
        }
    }

    /// <summary>
    /// Sends a redaction of <paramref name="targetEventId"/>. Only the event's sender or someone with the room's
    /// <c>redact</c> power may redact it (as Synapse checks before sending), and only within the same room.
    /// </summary>
    public async Task<SendResult> RedactAsync(Requester requester, RoomRecord room, string targetEventId, string? reason, string? txnId, CancellationToken ct)
    {
        var target = (await writer.GetEventsAsync([targetEventId], ct)).GetValueOrDefault(targetEventId);
        if (target is not null && target.RoomId != room.RoomId)
        {
            throw MatrixException.InvalidParam("Cannot redact an event from another room");
        }

        if (target is not null && target.Sender != requester.UserId)
        {
            var powerLevels = await GetPowerLevelsAsync(room, ct);
            if (powerLevels.GetUserLevel(requester.UserId) < powerLevels.Redact)
            {
                throw MatrixException.Forbidden("You may only redact your own events");
            }
        }

        var content = new JsonObject();
        if (reason is not null)
        {
            content["reason"] = reason;
        }

        var txn = txnId is null ? null : new TransactionRef(requester.UserId, requester.DeviceId, txnId);
        return await writer.SendAsync(room, new EventDraft(EventTypes.Redaction, null, content, requester.UserId, targetEventId), txn, ct);
    }

    /// <summary>
    /// Changes a membership: join, leave, invite, kick (leave of another user), ban, unban (leave of a banned user), knock.
    /// The auth rules decide whether it is allowed; this method adds the profile and the client-level checks.
    /// </summary>
    public async Task<SendResult> SetMembershipAsync(
        Requester requester, RoomRecord room, string target, string membership, string? reason, JsonObject? extraContent, CancellationToken ct)
    {
        if (!MatrixId.IsValidUserId(target))
        {
            throw MatrixException.InvalidParam($"Invalid user ID {target}");
        }

        var head = await writer.GetHeadAsync(room, ct);
        var current = await GetCurrentStateEventAsync(room, new StateKey(EventTypes.Member, target), ct);

        // A room we hold no state for (an invite or knock over federation): the membership is the out-of-band event.
        if (current is null && head.ForwardExtremities.Count == 0)
        {
            current = await GetOutOfBandMembershipAsync(room, target, ct);
        }

        var currentMembership = current?.Membership;
        switch (membership)
        {
            case Membership.Invite when currentMembership == Membership.Join:
                throw MatrixException.Forbidden($"{target} is already in the room");
            case Membership.Invite when currentMembership == Membership.Ban:
                throw MatrixException.Forbidden($"{target} is banned from the room");
            case Membership.Leave when target == requester.UserId && currentMembership is null:
                throw MatrixException.Forbidden("You are not in this room");
            case Membership.Leave when target != requester.UserId && currentMembership is not (Membership.Join or Membership.Invite or Membership.Knock or Membership.Ban):
                throw MatrixException.Forbidden($"{target} is not in the room");
        }

        var content = extraContent?.DeepClone().AsObject() ?? new JsonObject();
        content["membership"] = membership;
        if (reason is not null)
        {
            content["reason"] = reason;
        }

        if (membership is Membership.Join or Membership.Invite or Membership.Knock && MatrixId.ServerOf(target) == config.ServerName)
        {
            var profile = await profiles.GetLocalProfileAsync(target, ct);
            if (profile?.DisplayName is not null && !content.ContainsKey("displayname"))
            {
                content["displayname"] = profile.DisplayName;
            }

            if (profile?.AvatarUrl is not null && !content.ContainsKey("avatar_url"))
            {
                content["avatar_url"] = profile.AvatarUrl;
            }
        }

        if (head.ForwardExtremities.Count == 0)
        {
            // We hold no state for this room (we were only invited, or knocked): another server must do it.
            return await RemoteMembershipAsync(requester, room, target, membership, content, current, ct);
        }

        if (membership == Membership.Invite && MatrixId.ServerOf(target) is { } targetServer && targetServer != config.ServerName && remote is not null)
        {
            var stripped = await StrippedStateAsync(head, ct);
            return await writer.SendWithApprovalAsync(room, new EventDraft(EventTypes.Member, target, content, requester.UserId),
                built => remote.ApproveInviteAsync(room, built, stripped, ct), ct);
        }

        // Joining a room one is already joined to with the same profile changes nothing: answer with the existing event.
        if (membership == Membership.Join && currentMembership == Membership.Join && current is not null && SameProfile(current, content))
        {
            return new SendResult(current.EventId, null, current);
        }

        if (membership == Membership.Join && requester.IsGuest && target == requester.UserId
            && !GuestAccess.Allows(await GetCurrentStateEventAsync(room, new StateKey(GuestAccess.EventType, string.Empty), ct)))
        {
            throw MatrixException.Forbidden("Guest access is not allowed in this room");
        }

        // A join of a restricted room by a user who is not invited needs one of our users to vouch for it.
        if (membership == Membership.Join && target == requester.UserId && restrictedJoins is not null
            && await restrictedJoins.ChooseAuthoriserAsync(room, head, target, ct) is { } authoriser)
        {
            content["join_authorised_via_users_server"] = authoriser;
        }

        var sent = await writer.SendAsync(room, new EventDraft(EventTypes.Member, target, content, requester.UserId), null, ct);
        if (membership == Membership.Join && currentMembership != Membership.Join && MatrixId.ServerOf(target) == config.ServerName)
        {
            await NotifyJoinedSuccessorAsync(room, target, ct);
        }

        return sent;
    }

    /// <summary>When <paramref name="room"/> replaced another, tells the listener that <paramref name="userId"/> (local) joined it.</summary>
    internal async Task NotifyJoinedSuccessorAsync(RoomRecord room, string userId, CancellationToken ct)
    {
        if (succession is not null && PredecessorOf(await GetCreateEventAsync(room, ct)) is { } old)
        {
            await succession.OnJoinedSuccessorAsync(userId, old, room.RoomId, ct);
        }
    }

    /// <summary>
    /// One of our users joined <paramref name="room"/> through another server. If the room replaced one we know (another
    /// server upgraded it), the user's state follows them, and so do our aliases of the old room and its place in the
    /// public room list, as on the server that upgraded it (Synapse does this on a remote join). Only when whoever created
    /// the new room may end the old one (send its m.room.tombstone, as the old room's power levels here say): a room that
    /// merely names a predecessor does not take its aliases. (The tombstone itself may not have reached us yet.)
    /// </summary>
    private async Task JoinedThroughAnotherServerAsync(RoomRecord room, string userId, CancellationToken ct)
    {
        var create = await GetCreateEventAsync(room, ct);
        if (PredecessorOf(create) is not { } oldId)
        {
            return;
        }

        if (succession is not null)
        {
            await succession.OnJoinedSuccessorAsync(userId, oldId, room.RoomId, ct);
        }

        if (await FindRoomAsync(oldId, ct) is not { } old)
        {
            return;
        }

        var levels = await GetPowerLevelsAsync(old, ct);
        if (levels.GetUserLevel(create!.Sender) >= levels.GetEventLevel("m.room.tombstone", isState: true))
        {
            await directory.MoveToSuccessorAsync(oldId, room.RoomId, ct);
        }
    }

    private Task<Pdu?> GetCreateEventAsync(RoomRecord room, CancellationToken ct) =>
        GetCurrentStateEventAsync(room, new StateKey(EventTypes.Create, string.Empty), ct);

    /// <summary>The room ID a create event names as its predecessor, if any.</summary>
    private static string? PredecessorOf(Pdu? create) =>
        create is not null && create.Content.ValueKind == JsonValueKind.Object && create.Content.TryGetProperty("predecessor", out var predecessor)
        && predecessor.ValueKind == JsonValueKind.Object && predecessor.TryGetProperty("room_id", out var old) && old.ValueKind == JsonValueKind.String
            ? old.GetString()
            : null;

    /// <summary>Whether one of our users is joined, as the room's state here says.</summary>
    public Task<bool> HasLocalJoinedMemberAsync(RoomHead head, CancellationToken ct) => HasJoinedMemberAsync(head, local: true, ct);

    /// <summary>Whether a user of another server is joined, as the room's state here says.</summary>
    public Task<bool> HasRemoteJoinedMemberAsync(RoomHead head, CancellationToken ct) => HasJoinedMemberAsync(head, local: false, ct);

    private async Task<bool> HasJoinedMemberAsync(RoomHead head, bool local, CancellationToken ct)
    {
        var members = head.State
            .Where(kv => kv.Key.Type == EventTypes.Member && (MatrixId.ServerOf(kv.Key.Key) == config.ServerName) == local)
            .Select(kv => kv.Value)
            .ToList();
        return members.Count > 0 && (await writer.GetEventsAsync(members, ct)).Values.Any(e => e.Membership == Membership.Join);
    }

    /// <summary>
    /// Whether this server takes part in the room: it holds the room's state and one of our users is joined. Once all
    /// our users have left, the state we keep is no longer kept up to date, so a join goes through a resident server
    /// again (as Synapse's "is host in room").
    /// </summary>
    public async Task<bool> IsResidentAsync(RoomHead head, CancellationToken ct) =>
        head.ForwardExtremities.Count > 0 && await HasLocalJoinedMemberAsync(head, ct);

    /// <summary>Joins a room this server is not in, through the given servers (or those we can guess).</summary>
    public async Task<(RoomRecord Room, string EventId)> JoinRemoteAsync(Requester requester, string roomId, IReadOnlyList<string> servers, CancellationToken ct)
    {
        if (remote is null)
        {
            throw MatrixException.NotFound("No known servers for this room");
        }

        var content = new JsonObject { ["membership"] = Membership.Join };
        var profile = await profiles.GetLocalProfileAsync(requester.UserId, ct);
        if (profile?.DisplayName is not null)
        {
            content["displayname"] = profile.DisplayName;
        }

        if (profile?.AvatarUrl is not null)
        {
            content["avatar_url"] = profile.AvatarUrl;
        }

        var candidates = new List<string>(servers);
        var invite = await FindRoomAsync(roomId, ct) is { } known ? await GetOutOfBandMembershipAsync(known, requester.UserId, ct) : null;
        RequireGuestInvitedToGuestRoom(requester, invite);
        if (invite is not null && MatrixId.ServerOf(invite.Sender) is { } inviter)
        {
            candidates.Add(inviter);
        }

        if (MatrixId.ServerOf(roomId) is { } idServer)
        {
            candidates.Add(idServer);
        }

        candidates = candidates.Where(s => s != config.ServerName).Distinct().ToList();
        if (candidates.Count == 0)
        {
            throw MatrixException.NotFound("No known servers for this room");
        }

        var (room, eventId) = await remote.JoinAsync(requester.UserId, roomId, candidates, content, ct);
        _rooms[room.RoomId] = room;
        await JoinedThroughAnotherServerAsync(room, requester.UserId, ct);
        return (room, eventId);
    }

    /// <summary>A guest joins a room we hold no state for only when its invite showed guest access (see <see cref="GuestAccess"/>).</summary>
    private static void RequireGuestInvitedToGuestRoom(Requester requester, Pdu? invite)
    {
        if (requester.IsGuest && !GuestAccess.AllowedByInvite(invite))
        {
            throw MatrixException.Forbidden("Guest access is not allowed in this room");
        }
    }

    /// <summary>The user's membership event in a room we hold no state for (an invite or knock), if any.</summary>
    private async Task<Pdu?> GetOutOfBandMembershipAsync(RoomRecord room, string userId, CancellationToken ct)
    {
        var eventId = await store.GetMembershipEventIdAsync(room.RoomNid, userId, ct);
        return eventId is null ? null : (await writer.GetEventsAsync([eventId], ct)).GetValueOrDefault(eventId);
    }

    private async Task<SendResult> RemoteMembershipAsync(Requester requester, RoomRecord room, string target, string membership, JsonObject content, Pdu? current, CancellationToken ct)
    {
        if (remote is null || target != requester.UserId)
        {
            throw MatrixException.NotFound("This server is not in the room");
        }

        current ??= await GetOutOfBandMembershipAsync(room, target, ct);
        var servers = new List<string>();
        if (current is not null && MatrixId.ServerOf(current.Sender) is { } s)
        {
            servers.Add(s);
        }

        if (MatrixId.ServerOf(room.RoomId) is { } idServer)
        {
            servers.Add(idServer);
        }

        servers = servers.Where(x => x != config.ServerName).Distinct().ToList();
        switch (membership)
        {
            case Membership.Join:
            {
                RequireGuestInvitedToGuestRoom(requester, current);
                var (_, eventId) = await remote.JoinAsync(requester.UserId, room.RoomId, servers, content, ct);
                await JoinedThroughAnotherServerAsync(room, requester.UserId, ct);
                return new SendResult(eventId, null, (await writer.GetEventsAsync([eventId], ct))[eventId]);
            }

            case Membership.Leave:
            {
                var eventId = await remote.LeaveAsync(requester.UserId, room.RoomId, current, servers, ct);
                return new SendResult(eventId, null, (await writer.GetEventsAsync([eventId], ct))[eventId]);
            }

            default:
                throw MatrixException.Forbidden("This server is not in the room");
        }
    }

    private async Task<IReadOnlyList<System.Text.Json.JsonElement>> StrippedStateAsync(RoomHead head, CancellationToken ct)
    {
        // The spec's suggested stripped state, and guest access, without which the invitee's server cannot let a guest join.
        string[] types = ["m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar", "m.room.canonical_alias", "m.room.encryption", "m.room.topic", GuestAccess.EventType];
        var ids = types.Select(t => head.State.GetValueOrDefault(new StateKey(t, string.Empty))).OfType<string>().ToList();
        var events = await writer.GetEventsAsync(ids, ct);
        return events.Values.Select(e => System.Text.Json.JsonSerializer.SerializeToElement(new JsonObject
        {
            ["type"] = e.Type,
            ["state_key"] = e.StateKey,
            ["sender"] = e.Sender,
            ["content"] = JsonNode.Parse(e.Content.GetRawText()),
        })).ToList();
    }

    private static bool SameProfile(Pdu current, JsonObject content)
    {
        string? Read(string name) => current.Content.TryGetProperty(name, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString() : null;
        return Read("displayname") == content["displayname"]?.GetValue<string>() && Read("avatar_url") == content["avatar_url"]?.GetValue<string>();
    }

    internal static JsonObject MemberContent(string membership, MemberProfile? profile)
    {
        var content = new JsonObject { ["membership"] = membership };
        if (profile?.DisplayName is not null)
        {
            content["displayname"] = profile.DisplayName;
        }

        if (profile?.AvatarUrl is not null)
        {
            content["avatar_url"] = profile.AvatarUrl;
        }

        return content;
    }

    private static void AddUnlessGiven(List<EventDraft> drafts, Dictionary<StateKey, JsonObject> initialState, string type, JsonObject content, string sender)
    {
        var key = new StateKey(type, string.Empty);
        if (initialState.Remove(key, out var given))
        {
            drafts.Add(new EventDraft(type, string.Empty, given, sender));
        }
        else
        {
            drafts.Add(new EventDraft(type, string.Empty, content, sender));
        }
    }

    /// <summary>Synapse's default power levels, adjusted by the preset and the request's override.</summary>
    private static JsonObject DefaultPowerLevels(RoomVersion version, string creator, string preset, CreateRoomRequest request)
    {
        var users = new JsonObject();
        if (!version.PrivilegedCreators)
        {
            // From v12 creators have infinite power and must not be listed.
            users[creator] = 100;
        }

        if (preset == "trusted_private_chat")
        {
            foreach (var invitee in request.Invite)
            {
                users[invitee] = 100;
            }
        }

        var content = new JsonObject
        {
            ["users"] = users,
            ["users_default"] = 0,
            ["events"] = new JsonObject
            {
                ["m.room.name"] = 50,
                ["m.room.power_levels"] = 100,
                ["m.room.history_visibility"] = 100,
                ["m.room.canonical_alias"] = 50,
                ["m.room.avatar"] = 50,
                ["m.room.tombstone"] = version.PrivilegedCreators ? 150 : 100,
                ["m.room.server_acl"] = 100,
                ["m.room.encryption"] = 100,
            },
            ["events_default"] = 0,
            ["state_default"] = 50,
            ["ban"] = 50,
            ["kick"] = 50,
            ["redact"] = 50,
            ["invite"] = preset == "public_chat" ? 50 : 0,
            ["historical"] = 100,
        };
        if (request.PowerLevelContentOverride is { } overrides)
        {
            foreach (var (key, value) in overrides)
            {
                content[key] = value?.DeepClone();
            }
        }

        return content;
    }

    internal string NewRoomId()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        Span<char> chars = stackalloc char[18];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)];
        }

        return "!" + new string(chars) + ":" + config.ServerName;
    }
}
