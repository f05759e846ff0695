using System.Net;
using System.Text.Json;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Ephemeral.SyncClient;

namespace Homeserver.Host.Tests.Ephemeral;

/// <summary>Rooms in /sync: lazy-loaded members, summaries, knocks, left rooms and tokens.</summary>
public sealed class SyncRoomsTests(TestServer server) : IClassFixture<TestServer>
{
    private const string LazyFilter = """{"room":{"state":{"lazy_load_members":true}}}""";
    private const string LazyRedundantFilter = """{"room":{"state":{"lazy_load_members":true,"include_redundant_members":true}}}""";

    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    private static IReadOnlyList<string> MemberKeys(JsonElement sync, string roomId) =>
        sync.State(roomId).Where(e => e.Type() == "m.room.member").Select(e => e.StateKey()!).ToList();

    [Fact]
    public async Task Lazy_loading_sends_only_the_members_of_the_timeline_senders_and_the_syncing_user()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var carol = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat", name = "Named, so no heroes" });
        await bob.JoinAsync(roomId);
        await carol.JoinAsync(roomId);
        for (var i = 0; i < 3; i++)
        {
            await bob.SendTextAsync(roomId, $"bob {i}");
        }

        var sync = await alice.SyncAsync(filter: """{"room":{"timeline":{"limit":3},"state":{"lazy_load_members":true}}}""");
        var members = MemberKeys(sync, roomId);
        members.Should().Contain(bob.UserId!).And.Contain(alice.UserId!);
        members.Should().NotContain(carol.UserId!, "carol sent nothing in this timeline");

        var full = await alice.SyncAsync(filter: """{"room":{"timeline":{"limit":3}}}""");
        MemberKeys(full, roomId).Should().Contain(carol.UserId!, "without lazy-loading every member is sent");
    }

    [Fact]
    public async Task A_member_already_sent_to_the_device_is_not_sent_again_unless_redundant_members_are_asked_for()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        await bob.SendTextAsync(roomId, "first");
        var first = await alice.SyncAsync(filter: """{"room":{"timeline":{"limit":1},"state":{"lazy_load_members":true}}}""");
        MemberKeys(first, roomId).Should().Contain(bob.UserId!);

        await bob.SendTextAsync(roomId, "second");
        var second = await alice.SyncAsync(first.NextBatch(), filter: LazyFilter);
        second.Timeline(roomId).Should().ContainSingle();
        MemberKeys(second, roomId).Should().NotContain(bob.UserId!, "the device already has bob's membership");

        await bob.SendTextAsync(roomId, "third");
        var third = await alice.SyncAsync(second.NextBatch(), filter: LazyRedundantFilter);
        MemberKeys(third, roomId).Should().Contain(bob.UserId!, "include_redundant_members asks for it every time");
    }

    [Fact]
    public async Task A_limited_sync_carries_the_members_who_changed_in_the_gap()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat" });
        var since = (await alice.SyncAsync(filter: LazyFilter)).NextBatch();
        await bob.JoinAsync(roomId);
        for (var i = 0; i < 4; i++)
        {
            await alice.SendTextAsync(roomId, $"filler {i}");
        }

        var sync = await alice.SyncAsync(since, filter: """{"room":{"timeline":{"limit":2},"state":{"lazy_load_members":true}}}""");
        sync.JoinedRoom(roomId)!.Value.GetProperty("timeline").GetProperty("limited").GetBoolean().Should().BeTrue();
        MemberKeys(sync, roomId).Should().Contain(bob.UserId!, "bob joined in the gap");
    }

    [Fact]
    public async Task A_room_joined_since_the_token_comes_with_a_limited_timeline()
    {
        // As Synapse: a newly joined room is always limited, so that a client drops whatever it had of the room.
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat" });
        await alice.SendTextAsync(roomId, "before bob");
        var since = (await bob.SyncAsync()).NextBatch();
        await bob.JoinAsync(roomId);

        var sync = await bob.SyncUntilAsync(since, s => s.JoinedRoom(roomId) is not null);
        sync.JoinedRoom(roomId)!.Value.GetProperty("timeline").GetProperty("limited").GetBoolean().Should().BeTrue();
        sync.Timeline(roomId).Select(e => e.Type()).Should().Contain("m.room.message");

        // The next incremental sync of the room is an ordinary one.
        var next = await alice.SendTextAsync(roomId, "after bob");
        var again = await bob.SyncUntilAsync(sync.NextBatch(), s => s.Timeline(roomId).Any(e => e.GetProperty("event_id").GetString() == next));
        again.JoinedRoom(roomId)!.Value.GetProperty("timeline").GetProperty("limited").GetBoolean().Should().BeFalse();
    }

    [Fact]
    public async Task A_display_name_change_is_an_incremental_update_not_a_new_join()
    {
        // SyTest's "A change to displayname should appear in incremental /sync" and "... should not result in a full
        // state sync": the user was joined at the token, so the room is not sent again as newly joined.
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        await alice.SendTextAsync(roomId, "before");
        var since = (await alice.SyncAsync()).NextBatch();

        var rename = (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.member/{Esc(alice.UserId!)}",
            new { membership = "join", displayname = "boris" })).EnsureOk().Json.GetProperty("event_id").GetString();
        var message = await alice.SendTextAsync(roomId, "after");

        var sync = await alice.SyncUntilAsync(since, s => s.Timeline(roomId).Any(e => e.GetProperty("event_id").GetString() == message));
        sync.Timeline(roomId).Select(e => e.GetProperty("event_id").GetString()).Should().Equal(rename, message);
        sync.JoinedRoom(roomId)!.Value.GetProperty("timeline").GetProperty("limited").GetBoolean().Should().BeFalse();
        sync.State(roomId).Should().BeEmpty("nothing changed before the timeline");

        // With the member event filtered out of the timeline and only other state asked for, nothing is left to send.
        var filtered = """{"room":{"timeline":{"types":["m.room.message"],"not_types":["m.room.message"]},"state":{"types":["org.example.state"]}}}""";
        var since2 = (await alice.SyncAsync(filter: filtered)).NextBatch();
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.member/{Esc(alice.UserId!)}",
            new { membership = "join", displayname = "natasha" })).EnsureOk();
        var quiet = await alice.SyncAsync(since2, filter: filtered);
        quiet.JoinedRoom(roomId).Should().BeNull();
    }

    [Fact]
    public async Task The_summary_names_heroes_in_join_order_without_the_syncing_user_and_counts_members()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var carol = await NewUserAsync();
        var dave = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat", invite = new[] { dave.UserId } });
        await carol.JoinAsync(roomId);
        await bob.JoinAsync(roomId);

        var summary = (await alice.SyncAsync()).JoinedRoom(roomId)!.Value.GetProperty("summary");
        summary.GetProperty("m.heroes").EnumerateArray().Select(h => h.GetString()).Should().Equal(dave.UserId, carol.UserId, bob.UserId);
        summary.GetProperty("m.joined_member_count").GetInt32().Should().Be(3);
        summary.GetProperty("m.invited_member_count").GetInt32().Should().Be(1);
    }

    [Fact]
    public async Task A_named_room_has_counts_but_no_heroes_and_an_unchanged_room_has_an_empty_summary()
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { name = "Has a name" });
        var first = await alice.SyncAsync();
        var summary = first.JoinedRoom(roomId)!.Value.GetProperty("summary");
        summary.TryGetProperty("m.heroes", out _).Should().BeFalse();
        summary.GetProperty("m.joined_member_count").GetInt32().Should().Be(1);

        await alice.SendTextAsync(roomId, "no membership change");
        var next = await alice.SyncAsync(first.NextBatch());
        next.JoinedRoom(roomId)!.Value.GetProperty("summary").EnumerateObject().Should().BeEmpty();
    }

    [Fact]
    public async Task Lazy_loading_includes_the_heroes_memberships()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        for (var i = 0; i < 3; i++)
        {
            await alice.SendTextAsync(roomId, $"only alice speaks {i}");
        }

        var sync = await alice.SyncAsync(filter: """{"room":{"timeline":{"limit":2},"state":{"lazy_load_members":true}}}""");
        sync.JoinedRoom(roomId)!.Value.GetProperty("summary").GetProperty("m.heroes").EnumerateArray().Select(h => h.GetString()).Should().Equal(bob.UserId);
        MemberKeys(sync, roomId).Should().Contain(bob.UserId!, "a hero's membership is needed to name the room");
    }

    [Fact]
    public async Task A_knock_appears_in_the_knock_section_with_stripped_state()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new
        {
            name = "Knock here",
            initial_state = new[] { new { type = "m.room.join_rules", state_key = "", content = new { join_rule = "knock" } } },
        });
        var since = (await bob.SyncAsync()).NextBatch();
        (await bob.PostAsync($"/_matrix/client/v3/knock/{Esc(roomId)}", new { reason = "let me in" })).EnsureOk();

        var sync = await bob.SyncAsync(since);
        var knockState = sync.GetProperty("rooms").GetProperty("knock").GetProperty(roomId).GetProperty("knock_state").GetProperty("events").EnumerateArray().ToList();
        knockState.Should().Contain(e => e.Type() == "m.room.name");
        knockState.Should().Contain(e => e.Type() == "m.room.member" && e.StateKey() == bob.UserId
            && e.GetProperty("content").GetProperty("membership").GetString() == "knock");
        sync.JoinedRoom(roomId).Should().BeNull();
    }

    [Fact]
    public async Task A_rejected_invite_shows_only_the_rejection_and_none_of_the_rooms_state()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { name = "Secret plans", topic = "do not leak", invite = new[] { bob.UserId } });
        await alice.SendTextAsync(roomId, "secret message");
        var since = (await bob.SyncAsync()).NextBatch();
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/leave", new { })).EnsureOk();

        var left = (await bob.SyncAsync(since)).GetProperty("rooms").GetProperty("leave").GetProperty(roomId);
        left.GetProperty("state").GetProperty("events").EnumerateArray().Should().BeEmpty();
        var timeline = left.GetProperty("timeline").GetProperty("events").EnumerateArray().ToList();
        timeline.Should().ContainSingle().Which.StateKey().Should().Be(bob.UserId);
        left.GetRawText().Should().NotContain("secret message").And.NotContain("do not leak");
    }

    [Fact]
    public async Task A_left_room_stops_at_the_leave_and_comes_back_with_include_leave()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        await alice.SendTextAsync(roomId, "before leaving");
        var since = (await bob.SyncAsync()).NextBatch();
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/leave", new { })).EnsureOk();
        await alice.SendTextAsync(roomId, "after leaving");

        var sync = await bob.SyncAsync(since);
        var left = sync.GetProperty("rooms").GetProperty("leave").GetProperty(roomId);
        var bodies = left.GetProperty("timeline").GetProperty("events").EnumerateArray().Select(e => e.GetRawText()).ToList();
        bodies.Should().Contain(b => b.Contains("\"leave\""));
        bodies.Should().NotContain(b => b.Contains("after leaving"));

        (await bob.SyncAsync()).GetProperty("rooms").GetProperty("leave").TryGetProperty(roomId, out _).Should().BeFalse();
        var withLeave = await bob.SyncAsync(filter: """{"room":{"include_leave":true}}""");
        withLeave.GetProperty("rooms").GetProperty("leave").TryGetProperty(roomId, out _).Should().BeTrue();
    }

    [Fact]
    public async Task Full_state_on_an_incremental_sync_returns_all_state_at_once()
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { name = "Full" });
        var since = (await alice.SyncAsync()).NextBatch();
        var sync = await alice.SyncAsync(since, timeout: 10_000, extra: "full_state=true");
        var types = sync.State(roomId).Concat(sync.Timeline(roomId)).Select(e => e.Type()).ToList();
        types.Should().Contain(["m.room.create", "m.room.name", "m.room.power_levels", "m.room.member"]);
    }

    [Fact]
    public async Task A_newly_joined_room_comes_with_its_full_state()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat", name = "Joined later" });
        for (var i = 0; i < 12; i++)
        {
            await alice.SendTextAsync(roomId, $"history {i}");
        }

        var since = (await bob.SyncAsync()).NextBatch();
        await bob.JoinAsync(roomId);
        var sync = await bob.SyncAsync(since);
        sync.State(roomId).Concat(sync.Timeline(roomId)).Select(e => e.Type()).Should().Contain(["m.room.create", "m.room.name", "m.room.power_levels"]);
        sync.JoinedRoom(roomId)!.Value.GetProperty("summary").GetProperty("m.joined_member_count").GetInt32().Should().Be(2);
    }

    [Fact]
    public async Task A_token_from_the_future_is_answered_as_if_it_were_now()
    {
        var alice = await NewUserAsync();
        await alice.CreateRoomAsync();
        var typing = (await alice.SyncAsync()).NextBatch().Split('_')[2];
        var response = await alice.GetAsync($"/_matrix/client/v3/sync?since=s1_999999999_{typing}&timeout=0");
        response.Status.Should().Be(HttpStatusCode.OK);
        response.Json.GetProperty("rooms").GetProperty("join").EnumerateObject().Should().BeEmpty();
    }

    [Fact]
    public async Task An_ignored_users_messages_are_left_out_of_the_timeline_but_their_state_events_are_not()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var carol = await NewUserAsync();
        var roomId = await SharedRoomAsync(bob, alice, carol);
        await SetIgnoredUsersAsync(server, alice.UserId!, bob.UserId!);
        await bob.SendTextAsync(roomId, "bob before");
        (await bob.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.topic", new { topic = "set by bob" })).EnsureOk();
        await carol.SendTextAsync(roomId, "carol before");

        var initial = await alice.SyncAsync();
        var bodies = initial.Timeline(roomId).Where(e => e.Type() == "m.room.message").Select(e => e.Body()).ToList();
        bodies.Should().Equal("carol before");
        initial.Timeline(roomId).Should().Contain(e => e.Type() == "m.room.topic" && e.GetProperty("sender").GetString() == bob.UserId, "state events of ignored users are still sent");
        (await bob.SyncAsync()).Timeline(roomId).Select(e => e.Type() == "m.room.message" ? e.Body() : null).Should().Contain("bob before", "only alice ignores bob");

        // Incremental: bob's new message is left out; only bob speaking is nothing to say, so the long-poll runs to its end.
        await bob.SendTextAsync(roomId, "bob during");
        await carol.SendTextAsync(roomId, "carol during");
        var next = await alice.SyncAsync(initial.NextBatch());
        next.Timeline(roomId).Select(e => e.Body()).Should().Equal("carol during");
        await bob.SendTextAsync(roomId, "bob alone");
        var quiet = await alice.SyncAsync(next.NextBatch(), timeout: 1000);
        quiet.JoinedRoom(roomId).Should().BeNull();

        // Un-ignoring applies to the next sync at once (nothing about the list is cached); missed messages are not replayed.
        await SetIgnoredUsersAsync(server, alice.UserId!);
        await bob.SendTextAsync(roomId, "bob after");
        var after = await alice.SyncAsync(quiet.NextBatch());
        after.Timeline(roomId).Select(e => e.Body()).Should().Equal("bob after");
    }

    [Fact]
    public async Task A_filled_timeline_looks_past_the_messages_of_an_ignored_user()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        await alice.SendTextAsync(roomId, "alice 1");
        await alice.SendTextAsync(roomId, "alice 2");
        for (var i = 0; i < 3; i++)
        {
            await bob.SendTextAsync(roomId, $"bob {i}");
        }

        await SetIgnoredUsersAsync(server, alice.UserId!, bob.UserId!);
        var sync = await alice.SyncAsync(filter: """{"room":{"timeline":{"limit":2}}}""");
        sync.Timeline(roomId).Select(e => e.Body()).Should().Equal("alice 1", "alice 2");
    }

    [Fact]
    public async Task An_invite_from_an_ignored_user_is_not_sent()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var carol = await NewUserAsync();
        await SetIgnoredUsersAsync(server, alice.UserId!, bob.UserId!);
        var since = (await alice.SyncAsync()).NextBatch();
        var fromBob = await bob.CreateRoomAsync(new { name = "Bob's room", invite = new[] { alice.UserId } });
        var fromCarol = await carol.CreateRoomAsync(new { name = "Carol's room", invite = new[] { alice.UserId } });

        foreach (var sync in new[] { await alice.SyncAsync(since), await alice.SyncAsync() })
        {
            var invites = sync.GetProperty("rooms").GetProperty("invite");
            invites.TryGetProperty(fromCarol, out _).Should().BeTrue();
            invites.TryGetProperty(fromBob, out _).Should().BeFalse();
        }

        // Once bob is no longer ignored, a fresh sync shows his invite again.
        await SetIgnoredUsersAsync(server, alice.UserId!);
        (await alice.SyncAsync()).GetProperty("rooms").GetProperty("invite").TryGetProperty(fromBob, out _).Should().BeTrue();
    }

    [Fact]
    public async Task Room_account_data_alone_brings_a_room_into_an_incremental_sync()
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var eventId = await alice.SendTextAsync(roomId, "x");
        var since = (await alice.SyncAsync()).NextBatch();
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/read_markers", new Dictionary<string, string> { ["m.fully_read"] = eventId })).EnsureOk();
        var sync = await alice.SyncAsync(since);
        sync.Timeline(roomId).Should().BeEmpty();
        sync.JoinedRoom(roomId)!.Value.GetProperty("account_data").GetProperty("events").EnumerateArray().Should().ContainSingle(e => e.Type() == "m.fully_read");
    }
}
