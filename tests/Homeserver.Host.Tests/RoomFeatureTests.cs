using System.Net;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;
using static Homeserver.Host.Tests.RoomTestHelpers;

namespace Homeserver.Host.Tests;

public sealed class RoomFeatureTests(TestServer server) : IClassFixture<TestServer>
{
    [Fact]
    public async Task Reports_are_stored_and_events_one_cannot_see_are_404()
    {
        var alice = await server.NewUserAsync();
        var eve = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var eventId = await alice.SayAsync(roomId, "spam?");

        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/report/{Esc(eventId)}", new { reason = "spam", score = -100 })).EnsureOk();
        var hidden = await eve.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/report/{Esc(eventId)}", new { reason = "spam" });
        hidden.Status.Should().Be(HttpStatusCode.NotFound);
        hidden.ErrCode.Should().Be("M_NOT_FOUND");
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/report/{Esc("$missing")}", new { })).Status.Should().Be(HttpStatusCode.NotFound);
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/report/{Esc(eventId)}", new { score = 5 })).ErrCode.Should().Be("M_INVALID_PARAM");
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/report/{Esc(eventId)}", new { reason = 5 })).ErrCode.Should().Be("M_INVALID_PARAM");

        (await eve.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/report", new { reason = "bad room" })).EnsureOk();
        (await eve.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/report", new { reason = "nul \u0000 inside" })).EnsureOk();
        // Kestrel refuses a NUL in the path before we see it; either way never a 500.
        ((int)(await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/report/{Esc("$a\u0000b")}", new { })).Status).Should().BeInRange(400, 499);
        (await eve.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/report", new { })).ErrCode.Should().Be("M_MISSING_PARAM");
        (await eve.PostAsync($"/_matrix/client/v3/rooms/{Esc("!nope:" + server.ServerName)}/report", new { reason = "x" })).Status.Should().Be(HttpStatusCode.NotFound);

        (await server.CountAsync($"SELECT count(*) FROM content_reports WHERE room_id = '{roomId}' AND event_id = '{eventId}' AND score = -100")).Should().Be(1);
        (await server.CountAsync($"SELECT count(*) FROM content_reports WHERE room_id = '{roomId}' AND event_id IS NULL")).Should().Be(2);
    }

    [Fact]
    public async Task A_room_can_be_forgotten_only_after_leaving_and_then_leaves_sync()
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat" });
        await bob.JoinAsync(roomId);
        var forget = $"/_matrix/client/v3/rooms/{Esc(roomId)}/forget";

        var stillIn = await bob.PostAsync(forget, new { });
        stillIn.Status.Should().Be(HttpStatusCode.BadRequest);
        stillIn.ErrCode.Should().Be("M_UNKNOWN");

        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/leave", new { })).EnsureOk();
        var before = (await bob.GetAsync("/_matrix/client/v3/sync?filter=" + Esc("""{"room":{"include_leave":true}}"""))).EnsureOk().Json;
        before.GetProperty("rooms").GetProperty("leave").TryGetProperty(roomId, out _).Should().BeTrue();

        (await bob.PostAsync(forget, new { })).EnsureOk();
        var after = (await bob.GetAsync("/_matrix/client/v3/sync?filter=" + Esc("""{"room":{"include_leave":true}}"""))).EnsureOk().Json;
        after.GetProperty("rooms").GetProperty("leave").TryGetProperty(roomId, out _).Should().BeFalse();

        // Joining again un-forgets.
        await bob.JoinAsync(roomId);
        (await bob.GetAsync("/_matrix/client/v3/joined_rooms")).EnsureOk().Json.GetProperty("joined_rooms").EnumerateArray().Select(r => r.GetString()).Should().Contain(roomId);
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc("!never:" + server.ServerName)}/forget", new { })).EnsureOk();
        (await bob.PostAsync("/_matrix/client/v3/rooms/not-a-room/forget", new { })).ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task The_room_summary_is_shown_to_members_and_for_public_rooms_only()
    {
        var alice = await server.NewUserAsync();
        var eve = await server.NewUserAsync();
        var open = await alice.CreateRoomAsync(new { preset = "public_chat", name = "Open", topic = "all welcome", room_alias_name = "open" + Guid.NewGuid().ToString("N")[..8] });
        var closed = await alice.CreateRoomAsync(new { name = "Closed" });

        var summary = (await eve.GetAsync($"/_matrix/client/v1/room_summary/{Esc(open)}")).EnsureOk().Json;
        summary.GetProperty("name").GetString().Should().Be("Open");
        summary.GetProperty("join_rule").GetString().Should().Be("public");
        summary.GetProperty("num_joined_members").GetInt32().Should().Be(1);
        summary.GetProperty("membership").GetString().Should().Be("leave");
        summary.GetProperty("room_version").GetString().Should().NotBeEmpty();

        var byAlias = (await new MatrixClient(server.Client).GetAsync($"/_matrix/client/unstable/im.nheko.summary/rooms/{Esc(summary.GetProperty("canonical_alias").GetString()!)}/summary")).EnsureOk().Json;
        byAlias.GetProperty("room_id").GetString().Should().Be(open);
        byAlias.TryGetProperty("membership", out _).Should().BeFalse();

        (await eve.GetAsync($"/_matrix/client/v1/room_summary/{Esc(closed)}")).Status.Should().Be(HttpStatusCode.NotFound);
        (await alice.GetAsync($"/_matrix/client/v1/room_summary/{Esc(closed)}")).EnsureOk().Json.GetProperty("membership").GetString().Should().Be("join");
    }

    [Fact]
    public async Task Sending_and_redacting_without_a_transaction_id_makes_a_new_event_each_time()
    {
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var first = (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message", new { msgtype = "m.text", body = "legacy" })).EnsureOk()
            .Json.GetProperty("event_id").GetString()!;
        var second = (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message", new { msgtype = "m.text", body = "legacy" })).EnsureOk()
            .Json.GetProperty("event_id").GetString()!;
        second.Should().NotBe(first);

        var redaction = (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/redact/{Esc(first)}", new { reason = "oops" })).EnsureOk()
            .Json.GetProperty("event_id").GetString()!;
        redaction.Should().NotBe(first);
        var redacted = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/event/{Esc(first)}")).EnsureOk().Json;
        redacted.GetProperty("content").EnumerateObject().Should().BeEmpty();
    }

    [Theory]
    [InlineData("""{"msgtype": "m.text", "body": 1.1}""")]
    [InlineData("""{"msgtype": "m.text", "body": 9007199254740992}""")]
    [InlineData("""{"msgtype": "m.text", "body": -9007199254740992}""")]
    public async Task Content_that_is_not_canonical_json_is_refused_with_M_BAD_JSON_and_others_sends_are_unharmed(string content)
    {
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var bad = await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/{Guid.NewGuid():N}", JsonDocument.Parse(content).RootElement);
        bad.Status.Should().Be(HttpStatusCode.BadRequest);
        bad.ErrCode.Should().Be("M_BAD_JSON");
        var state = await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.topic", JsonDocument.Parse(content.Replace("body", "topic", StringComparison.Ordinal)).RootElement);
        state.Status.Should().Be(HttpStatusCode.BadRequest);
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/{Guid.NewGuid():N}", new { msgtype = "m.text", body = "fine" })).EnsureOk();
    }

    [Fact]
    public async Task An_upgraded_room_takes_the_private_chat_defaults_for_state_the_old_room_lacks()
    {
        var alice = await server.NewUserAsync();
        var oldRoom = await alice.CreateRoomAsync(new { preset = "public_chat" });
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(oldRoom)}/state/m.room.guest_access")).Status.Should().Be(HttpStatusCode.NotFound);

        var newRoom = (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(oldRoom)}/upgrade", new { new_version = "2" })).EnsureOk()
            .Json.GetProperty("replacement_room").GetString()!;
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(newRoom)}/state/m.room.guest_access")).EnsureOk()
            .Json.GetProperty("guest_access").GetString().Should().Be("can_join");
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(newRoom)}/state/m.room.join_rules")).EnsureOk()
            .Json.GetProperty("join_rule").GetString().Should().Be("public", "copied state wins over the preset");
    }

    [Fact]
    public async Task Tags_and_direct_chat_status_follow_users_into_the_upgraded_room()
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var oldRoom = await alice.CreateRoomAsync(new { room_version = "10", preset = "public_chat", is_direct = true });
        await bob.JoinAsync(oldRoom);
        (await alice.PutAsync($"/_matrix/client/v3/user/{Esc(alice.UserId!)}/account_data/m.direct", new Dictionary<string, string[]> { [bob.UserId!] = [oldRoom] })).EnsureOk();
        (await alice.PutAsync($"/_matrix/client/v3/user/{Esc(alice.UserId!)}/rooms/{Esc(oldRoom)}/tags/m.favourite", new { order = 0.5 })).EnsureOk();
        (await bob.PutAsync($"/_matrix/client/v3/user/{Esc(bob.UserId!)}/rooms/{Esc(oldRoom)}/tags/u.work", new { })).EnsureOk();

        var newRoom = (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(oldRoom)}/upgrade", new { new_version = "11" })).EnsureOk().Json.GetProperty("replacement_room").GetString()!;

        var direct = (await alice.GetAsync($"/_matrix/client/v3/user/{Esc(alice.UserId!)}/account_data/m.direct")).EnsureOk().Json;
        direct.GetProperty(bob.UserId!).EnumerateArray().Select(r => r.GetString()).Should().Equal(oldRoom, newRoom);
        var aliceTags = (await alice.GetAsync($"/_matrix/client/v3/user/{Esc(alice.UserId!)}/rooms/{Esc(newRoom)}/tags")).EnsureOk().Json.GetProperty("tags");
        aliceTags.GetProperty("m.favourite").GetProperty("order").GetDouble().Should().Be(0.5);

        // Bob's tag follows him when he joins the new room, not before.
        (await bob.GetAsync($"/_matrix/client/v3/user/{Esc(bob.UserId!)}/rooms/{Esc(newRoom)}/tags")).EnsureOk().Json.GetProperty("tags").EnumerateObject().Should().BeEmpty();
        await bob.JoinAsync(newRoom);
        (await bob.GetAsync($"/_matrix/client/v3/user/{Esc(bob.UserId!)}/rooms/{Esc(newRoom)}/tags")).EnsureOk().Json.GetProperty("tags").TryGetProperty("u.work", out _).Should().BeTrue();
    }

    [Theory]
    [InlineData("10", "11")]
    [InlineData("11", "12")]
    [InlineData("12", "12")]
    public async Task Upgrading_a_room_creates_its_successor_moves_aliases_and_tombstones_the_old_one(string from, string to)
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var mallory = await server.NewUserAsync();
        var aliasName = "up" + Guid.NewGuid().ToString("N")[..10];
        var oldRoom = await alice.CreateRoomAsync(new
        {
            room_version = from, preset = "public_chat", visibility = "public", name = "Before", topic = "upgrading", room_alias_name = aliasName,
            power_level_content_override = new { users_default = 0, events = new Dictionary<string, int> { ["m.room.topic"] = 20 } },
        });
        await bob.JoinAsync(oldRoom);
        await mallory.JoinAsync(oldRoom);
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(oldRoom)}/ban", new { user_id = mallory.UserId, reason = "spam" })).EnsureOk();

        var denied = await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(oldRoom)}/upgrade", new { new_version = to });
        denied.Status.Should().Be(HttpStatusCode.Forbidden);
        var unknown = await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(oldRoom)}/upgrade", new { new_version = "999" });
        unknown.Status.Should().Be(HttpStatusCode.BadRequest);
        unknown.ErrCode.Should().Be("M_UNSUPPORTED_ROOM_VERSION");

        var newRoom = (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(oldRoom)}/upgrade", new { new_version = to })).EnsureOk().Json.GetProperty("replacement_room").GetString()!;
        newRoom.Should().NotBe(oldRoom);

        var state = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(newRoom)}/state")).EnsureOk().Json.EnumerateArray().ToList();
        JsonElement Content(string type, string key = "") => state.Single(e => e.GetProperty("type").GetString() == type && e.GetProperty("state_key").GetString() == key).GetProperty("content");
        Content("m.room.create").GetProperty("predecessor").GetProperty("room_id").GetString().Should().Be(oldRoom);
        Content("m.room.create").GetProperty("room_version").GetString().Should().Be(to);
        Content("m.room.name").GetProperty("name").GetString().Should().Be("Before");
        Content("m.room.topic").GetProperty("topic").GetString().Should().Be("upgrading");
        Content("m.room.join_rules").GetProperty("join_rule").GetString().Should().Be("public");
        Content("m.room.power_levels").GetProperty("events").GetProperty("m.room.topic").GetInt32().Should().Be(20);
        Content("m.room.member", mallory.UserId!).GetProperty("membership").GetString().Should().Be("ban");
        var users = Content("m.room.power_levels").GetProperty("users");
        if (to == "12")
        {
            users.TryGetProperty(alice.UserId!, out _).Should().BeFalse("v12 creators are not listed in users");
        }
        else
        {
            users.GetProperty(alice.UserId!).GetInt32().Should().Be(100);
        }

        var alias = $"#{aliasName}:{server.ServerName}";
        (await alice.GetAsync($"/_matrix/client/v3/directory/room/{Esc(alias)}")).EnsureOk().Json.GetProperty("room_id").GetString().Should().Be(newRoom);
        Content("m.room.canonical_alias").GetProperty("alias").GetString().Should().Be(alias);
        (await alice.GetAsync($"/_matrix/client/v3/directory/list/room/{Esc(newRoom)}")).EnsureOk().Json.GetProperty("visibility").GetString().Should().Be("public");
        (await alice.GetAsync($"/_matrix/client/v3/directory/list/room/{Esc(oldRoom)}")).EnsureOk().Json.GetProperty("visibility").GetString().Should().Be("private");

        var tombstone = (await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(oldRoom)}/state/m.room.tombstone")).EnsureOk().Json;
        tombstone.GetProperty("replacement_room").GetString().Should().Be(newRoom);
        var tombstoneId = (await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(oldRoom)}/state/m.room.tombstone?format=event")).EnsureOk().Json.GetProperty("event_id").GetString();
        var predecessorEvent = Content("m.room.create").GetProperty("predecessor").GetProperty("event_id").GetString();
        if (to == "12")
        {
            // The new room's ID hashes its create event, which therefore cannot name the tombstone that names the room.
            predecessorEvent.Should().NotBe(tombstoneId).And.StartWith("$");
        }
        else
        {
            predecessorEvent.Should().Be(tombstoneId, "the predecessor names the tombstone, as Synapse does");
        }
        var oldLevels = (await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(oldRoom)}/state/m.room.power_levels")).EnsureOk().Json;
        oldLevels.GetProperty("events_default").GetInt32().Should().Be(50);
        oldLevels.GetProperty("invite").GetInt32().Should().Be(50);
        (await bob.PutAsync($"/_matrix/client/v3/rooms/{Esc(oldRoom)}/send/m.room.message/late", new { msgtype = "m.text", body = "too late" })).Status.Should().Be(HttpStatusCode.Forbidden);

        // Bob follows the tombstone; he is not invited, and the new room is public.
        await bob.JoinAsync(newRoom);
        (await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(newRoom)}/joined_members")).EnsureOk().Json.GetProperty("joined").EnumerateObject().Select(p => p.Name)
            .Should().BeEquivalentTo([alice.UserId, bob.UserId]);
    }

    [Fact]
    public async Task The_space_hierarchy_walks_children_in_order_and_hides_rooms_the_user_cannot_see()
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var space = await alice.CreateRoomAsync(new { preset = "public_chat", name = "Space", creation_content = new { type = "m.space" } });
        var subspace = await alice.CreateRoomAsync(new { preset = "public_chat", name = "Sub", creation_content = new { type = "m.space" } });
        var roomB = await alice.CreateRoomAsync(new { preset = "public_chat", name = "B" });
        var roomA = await alice.CreateRoomAsync(new { preset = "public_chat", name = "A" });
        var secret = await alice.CreateRoomAsync(new { name = "Secret" });
        var deep = await alice.CreateRoomAsync(new { preset = "public_chat", name = "Deep" });
        var via = new[] { server.ServerName };
        await alice.SetStateAsync(space, "m.space.child", new { via, order = "b" }, roomB);
        await alice.SetStateAsync(space, "m.space.child", new { via, order = "a", suggested = true }, roomA);
        await alice.SetStateAsync(space, "m.space.child", new { via }, subspace);
        await alice.SetStateAsync(space, "m.space.child", new { via }, secret);
        await alice.SetStateAsync(space, "m.space.child", new { }, deep); // no via: not a child
        await alice.SetStateAsync(subspace, "m.space.child", new { via }, deep);

        var path = $"/_matrix/client/v1/rooms/{Esc(space)}/hierarchy";
        var all = (await bob.GetAsync(path)).EnsureOk().Json.GetProperty("rooms").EnumerateArray().ToList();
        all.Select(r => r.GetProperty("room_id").GetString()).Should().Equal(space, roomA, roomB, subspace, deep);
        all[0].GetProperty("room_type").GetString().Should().Be("m.space");
        all[0].GetProperty("children_state").EnumerateArray().Select(c => c.GetProperty("state_key").GetString()).Should().Equal(roomA, roomB, subspace, secret);
        all[1].GetProperty("name").GetString().Should().Be("A");

        // Alice is in the secret room, so she sees it.
        (await alice.GetAsync(path)).EnsureOk().Json.GetProperty("rooms").EnumerateArray().Select(r => r.GetProperty("room_id").GetString()).Should().Contain(secret);

        var shallow = (await bob.GetAsync(path + "?max_depth=1")).EnsureOk().Json.GetProperty("rooms").EnumerateArray();
        shallow.Select(r => r.GetProperty("room_id").GetString()).Should().Equal(space, roomA, roomB, subspace);
        var suggested = (await bob.GetAsync(path + "?suggested_only=true")).EnsureOk().Json.GetProperty("rooms").EnumerateArray();
        suggested.Select(r => r.GetProperty("room_id").GetString()).Should().Equal(space, roomA);

        var page1 = (await bob.GetAsync(path + "?limit=2")).EnsureOk().Json;
        page1.GetProperty("rooms").EnumerateArray().Select(r => r.GetProperty("room_id").GetString()).Should().Equal(space, roomA);
        var token = page1.GetProperty("next_batch").GetString()!;
        var page2 = (await bob.GetAsync(path + "?limit=10&from=" + Esc(token))).EnsureOk().Json;
        page2.GetProperty("rooms").EnumerateArray().Select(r => r.GetProperty("room_id").GetString()).Should().Equal(roomB, subspace, deep);
        page2.TryGetProperty("next_batch", out _).Should().BeFalse();
        (await bob.GetAsync(path + "?max_depth=1&from=" + Esc(token))).ErrCode.Should().Be("M_INVALID_PARAM");
        (await bob.GetAsync(path + "?limit=0")).ErrCode.Should().Be("M_INVALID_PARAM");

        var forbidden = await bob.GetAsync($"/_matrix/client/v1/rooms/{Esc(secret)}/hierarchy");
        forbidden.Status.Should().Be(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Knocking_works_in_knock_rooms_of_version_7_and_later_only()
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var knockRoom = await alice.CreateRoomAsync(new { room_version = "10", initial_state = new[] { new { type = "m.room.join_rules", state_key = "", content = new { join_rule = "knock" } } } });
        (await bob.PostAsync($"/_matrix/client/v3/knock/{Esc(knockRoom)}", new { reason = "let me in" })).EnsureOk().Json.GetProperty("room_id").GetString().Should().Be(knockRoom);
        var member = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(knockRoom)}/state/m.room.member/{Esc(bob.UserId!)}")).EnsureOk().Json;
        member.GetProperty("membership").GetString().Should().Be("knock");
        member.GetProperty("reason").GetString().Should().Be("let me in");
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(knockRoom)}/join", new { })).Status.Should().Be(HttpStatusCode.Forbidden);

        await alice.InviteAsync(knockRoom, bob.UserId!);
        await bob.JoinAsync(knockRoom);

        var inviteOnly = await alice.CreateRoomAsync(new { room_version = "10" });
        (await bob.PostAsync($"/_matrix/client/v3/knock/{Esc(inviteOnly)}", new { })).Status.Should().Be(HttpStatusCode.Forbidden);
        var oldVersion = await alice.CreateRoomAsync(new { room_version = "6", initial_state = new[] { new { type = "m.room.join_rules", state_key = "", content = new { join_rule = "knock" } } } });
        (await bob.PostAsync($"/_matrix/client/v3/knock/{Esc(oldVersion)}", new { })).Status.Should().Be(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task A_restricted_room_admits_members_of_an_allowed_room_vouched_for_by_a_local_user()
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var eve = await server.NewUserAsync();
        var space = await alice.CreateRoomAsync(new { preset = "public_chat", creation_content = new { type = "m.space" } });
        var restricted = await alice.CreateRoomAsync(new
        {
            room_version = "10",
            initial_state = new[] { new { type = "m.room.join_rules", state_key = "", content = (object)new { join_rule = "restricted", allow = new[] { new { type = "m.room_membership", room_id = space } } } } },
        });
        await bob.JoinAsync(space);
        await bob.JoinAsync(restricted);
        var member = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(restricted)}/state/m.room.member/{Esc(bob.UserId!)}")).EnsureOk().Json;
        member.GetProperty("membership").GetString().Should().Be("join");
        member.GetProperty("join_authorised_via_users_server").GetString().Should().Be(alice.UserId);

        var outsider = await eve.PostAsync($"/_matrix/client/v3/rooms/{Esc(restricted)}/join", new { });
        outsider.Status.Should().Be(HttpStatusCode.Forbidden);
        outsider.ErrCode.Should().Be("M_FORBIDDEN");

        // Only allowed rooms this server knows can vouch.
        var elsewhere = await alice.CreateRoomAsync(new
        {
            room_version = "10",
            initial_state = new[] { new { type = "m.room.join_rules", state_key = "", content = (object)new { join_rule = "restricted", allow = new[] { new { type = "m.room_membership", room_id = "!unknown:elsewhere.example" } } } } },
        });
        var unknown = await eve.PostAsync($"/_matrix/client/v3/rooms/{Esc(elsewhere)}/join", new { });
        unknown.Status.Should().Be(HttpStatusCode.BadRequest);
        unknown.ErrCode.Should().Be("M_UNABLE_TO_AUTHORISE_JOIN");
    }

    [Fact]
    public async Task A_profile_change_updates_the_membership_event_in_every_joined_room()
    {
        var alice = await server.NewUserAsync();
        var room1 = await alice.CreateRoomAsync();
        var room2 = await alice.CreateRoomAsync();
        var left = await alice.CreateRoomAsync(new { preset = "public_chat" });
        var bob = await server.NewUserAsync();
        await bob.JoinAsync(left);
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(left)}/leave", new { })).EnsureOk();

        // Through the profile API, as a client changes it.
        (await alice.PutAsync($"/_matrix/client/v3/profile/{Esc(alice.UserId!)}/displayname", new { displayname = "Alice Liddell" })).EnsureOk();
        (await alice.PutAsync($"/_matrix/client/v3/profile/{Esc(alice.UserId!)}/avatar_url", new { avatar_url = "mxc://example.org/alice" })).EnsureOk();
        var listener = server.Services.GetRequiredService<IProfileChangeListener>();

        foreach (var roomId in new[] { room1, room2 })
        {
            var member = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.member/{Esc(alice.UserId!)}")).EnsureOk().Json;
            member.GetProperty("membership").GetString().Should().Be("join");
            member.GetProperty("displayname").GetString().Should().Be("Alice Liddell");
            member.GetProperty("avatar_url").GetString().Should().Be("mxc://example.org/alice");
        }

        var stillLeft = (await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(left)}/state/m.room.member/{Esc(alice.UserId!)}")).EnsureOk().Json;
        stillLeft.GetProperty("membership").GetString().Should().Be("leave");

        // The same profile again sends nothing new.
        var before = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(room1)}/messages?dir=b&limit=100")).EnsureOk().Json.GetProperty("chunk").GetArrayLength();
        await listener.OnProfileChangedAsync(alice.UserId!, "Alice Liddell", "mxc://example.org/alice", CancellationToken.None);
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(room1)}/messages?dir=b&limit=100")).EnsureOk().Json.GetProperty("chunk").GetArrayLength().Should().Be(before);
    }
}
