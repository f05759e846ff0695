using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Host.Tests.Ephemeral;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Ephemeral.SyncClient;

namespace Homeserver.Host.Tests;

/// <summary>Typing, read receipts and presence between users of two of our servers (EDUs over federation, both ways).</summary>
public sealed class FederationEphemeralTests(TwoServers servers) : IClassFixture<TwoServers>
{
    /// <summary>Alice on A creates a public room; Bob on B joins it; both servers know of both members.</summary>
    private async Task<(MatrixClient Alice, MatrixClient Bob, string RoomId)> SharedRoomAcrossServersAsync()
    {
        var alice = await new MatrixClient(servers.A.Client).RegisterAsync();
        var bob = await new MatrixClient(servers.B.Client).RegisterAsync();
        var since = (await alice.SyncAsync()).NextBatch();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat" });
        (await bob.PostAsync($"/_matrix/client/v3/join/{Esc(roomId)}?server_name={Esc(servers.A.ServerName)}", new { })).EnsureOk();
        await alice.SyncUntilAsync(since, s => s.Timeline(roomId).Any(e => e.Type() == "m.room.member" && e.StateKey() == bob.UserId));
        return (alice, bob, roomId);
    }

    private static IReadOnlyList<string>? TypingUsers(JsonElement sync, string roomId) =>
        sync.Ephemeral(roomId).Where(e => e.Type() == "m.typing")
            .Select(e => e.GetProperty("content").GetProperty("user_ids").EnumerateArray().Select(u => u.GetString()!).ToList())
            .FirstOrDefault();

    private static JsonElement? ReadReceipt(JsonElement sync, string roomId, string eventId, string userId) =>
        sync.Ephemeral(roomId).Where(e => e.Type() == "m.receipt")
            .Select(e => e.GetProperty("content").TryGetProperty(eventId, out var byType) && byType.TryGetProperty("m.read", out var byUser)
                && byUser.TryGetProperty(userId, out var receipt) ? receipt : (JsonElement?)null)
            .FirstOrDefault(r => r is not null);

    [Fact]
    public async Task A_user_typing_on_one_server_shows_in_the_sync_of_the_other_server_and_clears_when_they_stop()
    {
        var (alice, bob, roomId) = await SharedRoomAcrossServersAsync();
        var since = (await bob.SyncAsync()).NextBatch();

        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/typing/{Esc(alice.UserId!)}", new { typing = true, timeout = 30000 })).EnsureOk();
        var typing = await bob.SyncUntilAsync(since, s => TypingUsers(s, roomId) is { Count: > 0 });
        TypingUsers(typing, roomId).Should().Equal(alice.UserId);

        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/typing/{Esc(alice.UserId!)}", new { typing = false })).EnsureOk();
        var stopped = await bob.SyncUntilAsync(typing.NextBatch(), s => TypingUsers(s, roomId) is not null);
        TypingUsers(stopped, roomId).Should().BeEmpty();
    }

    [Fact]
    public async Task A_public_read_receipt_on_one_server_shows_in_the_sync_of_the_other_server()
    {
        var (alice, bob, roomId) = await SharedRoomAcrossServersAsync();
        var since = (await bob.SyncAsync()).NextBatch();
        var eventId = await alice.SendTextAsync(roomId, "read me");
        var seen = await bob.SyncUntilAsync(since, s => s.Timeline(roomId).Any(e => e.GetProperty("event_id").GetString() == eventId));

        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/receipt/m.read/{Esc(eventId)}", new { })).EnsureOk();
        var sync = await bob.SyncUntilAsync(seen.NextBatch(), s => ReadReceipt(s, roomId, eventId, alice.UserId!) is not null);
        ReadReceipt(sync, roomId, eventId, alice.UserId!)!.Value.GetProperty("ts").GetInt64().Should().BeGreaterThan(0);

        // Stored like a local receipt: an initial sync on B carries it too.
        ReadReceipt(await bob.SyncAsync(), roomId, eventId, alice.UserId!).Should().NotBeNull();
    }

    [Fact]
    public async Task Presence_set_on_one_server_shows_in_the_sync_of_users_of_the_other_server_who_share_a_room_only()
    {
        var (alice, bob, _) = await SharedRoomAcrossServersAsync();
        var stranger = await new MatrixClient(servers.A.Client).RegisterAsync();
        var since = (await alice.SyncAsync()).NextBatch();

        (await bob.PutAsync($"/_matrix/client/v3/presence/{Esc(bob.UserId!)}/status", new { presence = "online", status_msg = "cooking on B" })).EnsureOk();
        bool IsBobCooking(JsonElement e) => e.GetProperty("sender").GetString() == bob.UserId
            && e.GetProperty("content").TryGetProperty("status_msg", out var msg) && msg.GetString() == "cooking on B";
        var sync = await alice.SyncUntilAsync(since, s => s.PresenceEvents().Any(IsBobCooking));
        sync.PresenceEvents().Single(IsBobCooking).GetProperty("content").GetProperty("presence").GetString().Should().Be("online");

        // Kept like local presence: an initial sync shows it to Alice, never to a user of A who shares no room with Bob.
        (await alice.SyncAsync()).PresenceEvents().Any(IsBobCooking).Should().BeTrue();
        (await stranger.SyncAsync()).PresenceEvents().Select(e => e.GetProperty("sender").GetString()).Should().NotContain(bob.UserId);
        (await stranger.GetAsync($"/_matrix/client/v3/presence/{Esc(bob.UserId!)}/status")).Status.Should().Be(System.Net.HttpStatusCode.Forbidden);
    }
}

/// <summary>
/// What crafted EDUs from another server achieve (only what the spec allows), and what our server sends: typing and
/// public receipts of our users, never private receipts, and presence only when it changes.
/// </summary>
public sealed class FederationEphemeralSafetyTests(ServerWithFakeRemote fixture) : IClassFixture<ServerWithFakeRemote>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private FederatedTestServer Server => fixture.Server;

    private FakeRemoteServer Remote => fixture.Remote;

    /// <summary>A public room of Alice (ours) that the fake server's user has joined through make_join/send_join.</summary>
    private async Task<(MatrixClient Alice, string RoomId, string Remote)> RoomWithRemoteMemberAsync()
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat", room_version = "10" });
        var user = $"@remote{Guid.NewGuid():N}"[..16] + ":" + Remote.ServerName;
        var (status, template) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/make_join/{Esc(roomId)}/{Esc(user)}?ver=10");
        status.Should().Be(200, template.ToString());
        var join = Remote.SignEvent(JsonNode.Parse(template.GetProperty("event").GetRawText())!.AsObject(), RoomVersion.V10);
        var joinId = FakeRemoteServer.EventId(join, RoomVersion.V10);
        var (sendStatus, sent) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put, $"/_matrix/federation/v2/send_join/{Esc(roomId)}/{Esc(joinId)}", join);
        sendStatus.Should().Be(200, sent.ToString());
        return (alice, roomId, user);
    }

    private static JsonNode Edu(string type, JsonNode? content) => new JsonObject { ["edu_type"] = type, ["content"] = content };

    /// <summary>Sends one transaction of EDUs as the fake server; it must succeed whatever the EDUs hold.</summary>
    private async Task SendEdusAsync(params JsonNode?[] edus)
    {
        var txn = new JsonObject
        {
            ["origin"] = Remote.ServerName,
            ["origin_server_ts"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            ["pdus"] = new JsonArray(),
            ["edus"] = new JsonArray(edus),
        };
        var (status, answer) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put, $"/_matrix/federation/v1/send/{Guid.NewGuid():N}", txn);
        status.Should().Be(200, answer.ToString());
    }

    private static IReadOnlyList<string>? TypingUsers(JsonElement sync, string roomId) =>
        sync.Ephemeral(roomId).Where(e => e.Type() == "m.typing")
            .Select(e => e.GetProperty("content").GetProperty("user_ids").EnumerateArray().Select(u => u.GetString()!).ToList())
            .FirstOrDefault();

    /// <summary>Waits until the fake server has received an EDU of the type that satisfies <paramref name="match"/>.</summary>
    private async Task<JsonElement> ReceivedAsync(string eduType, Func<JsonElement, bool> match)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < deadline)
        {
            if (Remote.ReceivedEdus(eduType).FirstOrDefault(match) is { ValueKind: JsonValueKind.Object } found)
            {
                return found;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"no matching {eduType} EDU arrived; got: {string.Join(" ", Remote.ReceivedEdus(eduType).Select(e => e.GetRawText()))}");
    }

    private static bool IsTyping(JsonElement content, string roomId, string userId, bool typing) =>
        content.GetProperty("room_id").GetString() == roomId && content.GetProperty("user_id").GetString() == userId && content.GetProperty("typing").GetBoolean() == typing;

    [Fact]
    public async Task A_typing_edu_for_a_user_of_another_server_than_the_origin_or_for_a_user_not_in_the_room_is_ignored()
    {
        var (alice, roomId, remote) = await RoomWithRemoteMemberAsync();
        var bob = await new MatrixClient(Server.Client).RegisterAsync();
        await bob.JoinAsync(roomId);
        var since = (await alice.SyncAsync()).NextBatch();

        // Bob is joined but is ours, not the origin's; the stranger is the origin's but not in the room.
        var stranger = "@stranger:" + Remote.ServerName;
        await SendEdusAsync(
            Edu("m.typing", new JsonObject { ["room_id"] = roomId, ["user_id"] = bob.UserId, ["typing"] = true }),
            Edu("m.typing", new JsonObject { ["room_id"] = roomId, ["user_id"] = stranger, ["typing"] = true }));

        // The same EDU for the origin's joined user is believed; it comes after the others, so they had their chance.
        await SendEdusAsync(Edu("m.typing", new JsonObject { ["room_id"] = roomId, ["user_id"] = remote, ["typing"] = true }));
        var sync = await alice.SyncUntilAsync(since, s => TypingUsers(s, roomId) is { Count: > 0 });
        TypingUsers(sync, roomId).Should().Equal(remote);

        await SendEdusAsync(Edu("m.typing", new JsonObject { ["room_id"] = roomId, ["user_id"] = remote, ["typing"] = false }));
        var stopped = await alice.SyncUntilAsync(sync.NextBatch(), s => TypingUsers(s, roomId) is not null);
        TypingUsers(stopped, roomId).Should().BeEmpty();
    }

    [Fact]
    public async Task Bad_and_forged_entries_of_ephemeral_edus_are_ignored_one_by_one_and_the_good_ones_apply()
    {
        var (alice, roomId, remote) = await RoomWithRemoteMemberAsync();
        var eventId = await alice.SendTextAsync(roomId, "something to read");
        var since = (await alice.SyncAsync()).NextBatch();

        static JsonObject Read(string eventIdRead, long ts) => new() { ["event_ids"] = new JsonArray(eventIdRead), ["data"] = new JsonObject { ["ts"] = ts } };
        static JsonObject ReadBy(string user, string eventIdRead, long ts) => new() { [user] = Read(eventIdRead, ts) };

        // Ours, another server's, and the origin's on an event we do not have.
        var forgedReceipts = new JsonObject
        {
            [alice.UserId!] = Read(eventId, 1),
            ["@someone:elsewhere.example"] = Read(eventId, 2),
            [remote] = Read("$unknown", 3),
        };
        await SendEdusAsync(
            JsonValue.Create(42),
            new JsonObject { ["content"] = new JsonObject() },
            Edu("m.typing", JsonValue.Create("garbage")),
            Edu("m.typing", new JsonObject()),
            Edu("m.receipt", JsonValue.Create("garbage")),
            Edu("m.receipt", new JsonObject
            {
                ["not a room"] = 1,
                [roomId] = new JsonObject
                {
                    ["m.read"] = forgedReceipts,
                    ["m.read.private"] = ReadBy(remote, eventId, 4),
                },
            }),
            Edu("m.receipt", new JsonObject { [roomId] = new JsonObject { ["m.read"] = ReadBy(remote, eventId, 42) } }),
            Edu("m.presence", new JsonObject
            {
                ["push"] = new JsonArray(
                    JsonValue.Create("junk"),
                    new JsonObject { ["user_id"] = alice.UserId, ["presence"] = "online", ["status_msg"] = "forged", ["last_active_ago"] = 0 },
                    new JsonObject { ["user_id"] = remote, ["presence"] = "dancing", ["last_active_ago"] = 0 },
                    new JsonObject { ["user_id"] = remote, ["presence"] = "online", ["status_msg"] = "from afar", ["last_active_ago"] = 1000, ["currently_active"] = true }),
            }),
            Edu("m.presence", new JsonObject { ["push"] = "not a list" }),
            Edu("m.something_new", new JsonObject()));

        var sync = await alice.SyncUntilAsync(since, s =>
            s.Ephemeral(roomId).Any(e => e.Type() == "m.receipt") && s.PresenceEvents().Any(e => e.GetProperty("sender").GetString() == remote));

        var receipts = sync.Ephemeral(roomId).Where(e => e.Type() == "m.receipt").Select(e => e.GetProperty("content")).ToList();
        var onEvent = receipts.Select(c => c.TryGetProperty(eventId, out var r) ? r : default).Where(r => r.ValueKind == JsonValueKind.Object).ToList();
        onEvent.Should().ContainSingle();
        onEvent[0].EnumerateObject().Select(p => p.Name).Should().Equal("m.read");
        onEvent[0].GetProperty("m.read").EnumerateObject().Select(p => p.Name).Should().Equal(remote);
        onEvent[0].GetProperty("m.read").GetProperty(remote).GetProperty("ts").GetInt64().Should().Be(42);

        var presence = sync.PresenceEvents().Single(e => e.GetProperty("sender").GetString() == remote).GetProperty("content");
        presence.GetProperty("presence").GetString().Should().Be("online");
        presence.GetProperty("status_msg").GetString().Should().Be("from afar");
        presence.GetProperty("currently_active").GetBoolean().Should().BeTrue();
        presence.GetProperty("last_active_ago").GetInt64().Should().BeInRange(1000, 60_000);
        sync.PresenceEvents().Any(e => e.GetProperty("content").TryGetProperty("status_msg", out var m) && m.GetString() == "forged").Should().BeFalse();
        (await alice.GetAsync($"/_matrix/client/v3/presence/{Esc(alice.UserId!)}/status")).EnsureOk().Json.TryGetProperty("status_msg", out _).Should().BeFalse();
    }

    [Fact]
    public async Task Our_server_sends_typing_and_public_receipts_to_the_remote_server_but_never_private_receipts()
    {
        var (alice, roomId, _) = await RoomWithRemoteMemberAsync();
        var eventId = await alice.SendTextAsync(roomId, "seen");

        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/typing/{Esc(alice.UserId!)}", new { typing = true, timeout = 30000 })).EnsureOk();
        await ReceivedAsync("m.typing", c => IsTyping(c, roomId, alice.UserId!, true));

        // The private receipt is set first: had it been queued, it would arrive no later than the public one.
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/receipt/m.read.private/{Esc(eventId)}", new { })).EnsureOk();
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/receipt/m.read/{Esc(eventId)}", new { })).EnsureOk();
        var receipt = await ReceivedAsync("m.receipt", c => c.TryGetProperty(roomId, out _));
        var read = receipt.GetProperty(roomId).GetProperty("m.read").GetProperty(alice.UserId!);
        read.GetProperty("event_ids").EnumerateArray().Select(e => e.GetString()).Should().Equal(eventId);
        read.GetProperty("data").GetProperty("ts").GetInt64().Should().BeGreaterThan(0);
        Remote.ReceivedEdus("m.receipt").Should().ContainSingle();
        Remote.ReceivedEdus("m.receipt").Select(c => c.GetRawText()).Should().NotContain(c => c.Contains("m.read.private", StringComparison.Ordinal));

        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/typing/{Esc(alice.UserId!)}", new { typing = false })).EnsureOk();
        await ReceivedAsync("m.typing", c => IsTyping(c, roomId, alice.UserId!, false));
    }

    [Fact]
    public async Task Our_server_sends_presence_to_the_remote_server_when_it_changes_and_not_when_it_is_set_again_unchanged()
    {
        var (alice, roomId, _) = await RoomWithRemoteMemberAsync();
        bool IsAliceBusy(JsonElement c) => c.GetProperty("push").EnumerateArray().Any(p =>
            p.GetProperty("user_id").GetString() == alice.UserId && p.TryGetProperty("status_msg", out var m) && m.GetString() == "busy baking");

        // The remote server's join makes ours send alice's presence to it, in the background: that send is let through
        // first, so that it cannot carry (and count as a second send of) the status set below.
        (await alice.PutAsync($"/_matrix/client/v3/presence/{Esc(alice.UserId!)}/status", new { presence = "online", status_msg = "warming up" })).EnsureOk();
        await ReceivedAsync("m.presence", c => c.GetProperty("push").EnumerateArray().Any(p =>
            p.GetProperty("user_id").GetString() == alice.UserId && p.TryGetProperty("status_msg", out var m) && m.GetString() == "warming up"));

        (await alice.PutAsync($"/_matrix/client/v3/presence/{Esc(alice.UserId!)}/status", new { presence = "online", status_msg = "busy baking" })).EnsureOk();
        var sent = await ReceivedAsync("m.presence", IsAliceBusy);
        var entry = sent.GetProperty("push").EnumerateArray().Single(p => p.GetProperty("user_id").GetString() == alice.UserId);
        entry.GetProperty("presence").GetString().Should().Be("online");
        entry.GetProperty("currently_active").GetBoolean().Should().BeTrue();
        entry.GetProperty("last_active_ago").GetInt64().Should().BeGreaterThanOrEqualTo(0);

        // Set again, unchanged: nothing to tell. Typing afterwards marks where its EDU would have been.
        (await alice.PutAsync($"/_matrix/client/v3/presence/{Esc(alice.UserId!)}/status", new { presence = "online", status_msg = "busy baking" })).EnsureOk();
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/typing/{Esc(alice.UserId!)}", new { typing = true, timeout = 5000 })).EnsureOk();
        await ReceivedAsync("m.typing", c => IsTyping(c, roomId, alice.UserId!, true));
        Remote.ReceivedEdus("m.presence").Count(IsAliceBusy).Should().Be(1);
    }
}
