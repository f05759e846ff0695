using System.Diagnostics;
using System.Text.Json;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

public sealed class SyncTests(TestServer server) : IClassFixture<TestServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    private static async Task<string> CreateRoomAsync(MatrixClient client, object? body = null) =>
        (await client.PostAsync("/_matrix/client/v3/createRoom", body ?? new { })).EnsureOk().Json.GetProperty("room_id").GetString()!;

    private static Task<string> SendAsync(MatrixClient client, string roomId, string body) =>
        client.PutAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/send/m.room.message/{Guid.NewGuid():N}", new { msgtype = "m.text", body })
            .ContinueWith(t => t.Result.EnsureOk().Json.GetProperty("event_id").GetString()!);

    private static async Task<JsonElement> SyncAsync(MatrixClient client, string? since = null, int timeout = 0, string? filter = null)
    {
        var url = "/_matrix/client/v3/sync?timeout=" + timeout + (since is null ? string.Empty : "&since=" + Uri.EscapeDataString(since))
            + (filter is null ? string.Empty : "&filter=" + Uri.EscapeDataString(filter));
        return (await client.GetAsync(url)).EnsureOk().Json;
    }

    private static IEnumerable<JsonElement> Timeline(JsonElement sync, string roomId) =>
        sync.GetProperty("rooms").GetProperty("join").GetProperty(roomId).GetProperty("timeline").GetProperty("events").EnumerateArray();

    [Fact]
    public async Task Initial_sync_returns_joined_rooms_with_timeline_and_state()
    {
        var alice = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice, new { name = "Sync room" });
        await SendAsync(alice, roomId, "hello");
        var sync = await SyncAsync(alice);
        sync.GetProperty("next_batch").GetString().Should().StartWith("s1_");
        var room = sync.GetProperty("rooms").GetProperty("join").GetProperty(roomId);
        Timeline(sync, roomId).Last().GetProperty("content").GetProperty("body").GetString().Should().Be("hello");
        var stateAndTimeline = room.GetProperty("state").GetProperty("events").EnumerateArray()
            .Concat(Timeline(sync, roomId)).Select(e => e.GetProperty("type").GetString()).ToList();
        stateAndTimeline.Should().Contain(["m.room.create", "m.room.power_levels", "m.room.name", "m.room.member"]);
        room.GetProperty("summary").GetProperty("m.joined_member_count").GetInt32().Should().Be(1);
    }

    [Fact]
    public async Task Incremental_sync_returns_only_new_events()
    {
        var alice = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice);
        var first = await SyncAsync(alice);
        var eventId = await SendAsync(alice, roomId, "new one");
        var second = await SyncAsync(alice, first.GetProperty("next_batch").GetString());
        Timeline(second, roomId).Select(e => e.GetProperty("event_id").GetString()).Should().Equal(eventId);
        Timeline(second, roomId).Single().GetProperty("unsigned").GetProperty("transaction_id").GetString().Should().NotBeNull();
    }

    [Fact]
    public async Task A_long_poll_wakes_when_a_message_arrives()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice, new { invite = new[] { bob.UserId } });
        (await bob.PostAsync($"/_matrix/client/v3/join/{Uri.EscapeDataString(roomId)}", new { })).EnsureOk();
        var since = (await SyncAsync(bob, filter: Ephemeral.SyncClient.WithoutPresence)).GetProperty("next_batch").GetString();
        var watch = Stopwatch.StartNew();
        var poll = SyncAsync(bob, since, timeout: 20_000, filter: Ephemeral.SyncClient.WithoutPresence);
        await Task.Delay(300);
        poll.IsCompleted.Should().BeFalse("nothing has happened yet");
        await SendAsync(alice, roomId, "wake up");
        var result = await poll;
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(15));
        Timeline(result, roomId).Select(e => e.GetProperty("content").GetProperty("body").GetString()).Should().Contain("wake up");
    }

    [Fact]
    public async Task A_long_poll_with_nothing_new_returns_after_its_timeout_with_the_same_position()
    {
        var alice = await NewUserAsync();
        await CreateRoomAsync(alice);
        var since = (await SyncAsync(alice)).GetProperty("next_batch").GetString();
        var result = await SyncAsync(alice, since, timeout: 500);
        result.GetProperty("rooms").GetProperty("join").EnumerateObject().Should().BeEmpty();
    }

    [Fact]
    public async Task Invites_appear_with_stripped_state_and_leaves_in_the_leave_section()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var since = (await SyncAsync(bob)).GetProperty("next_batch").GetString();
        var roomId = await CreateRoomAsync(alice, new { name = "Invite room", invite = new[] { bob.UserId } });
        var sync = await SyncAsync(bob, since);
        var inviteState = sync.GetProperty("rooms").GetProperty("invite").GetProperty(roomId).GetProperty("invite_state").GetProperty("events").EnumerateArray().ToList();
        inviteState.Should().Contain(e => e.GetProperty("type").GetString() == "m.room.name");
        inviteState.Should().Contain(e => e.GetProperty("type").GetString() == "m.room.member" && e.GetProperty("state_key").GetString() == bob.UserId);

        (await bob.PostAsync($"/_matrix/client/v3/join/{Uri.EscapeDataString(roomId)}", new { })).EnsureOk();
        var afterJoin = await SyncAsync(bob, sync.GetProperty("next_batch").GetString());
        afterJoin.GetProperty("rooms").GetProperty("join").TryGetProperty(roomId, out _).Should().BeTrue();

        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/leave", new { })).EnsureOk();
        var afterLeave = await SyncAsync(bob, afterJoin.GetProperty("next_batch").GetString());
        afterLeave.GetProperty("rooms").GetProperty("leave").TryGetProperty(roomId, out _).Should().BeTrue();
    }

    [Fact]
    public async Task A_limited_timeline_carries_the_membership_change_hidden_by_the_limit_in_state()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice, new { preset = "public_chat" });
        var since = (await SyncAsync(alice)).GetProperty("next_batch").GetString();

        (await bob.PostAsync($"/_matrix/client/v3/join/{Uri.EscapeDataString(roomId)}", new { })).EnsureOk();
        for (var i = 0; i < 5; i++)
        {
            await SendAsync(alice, roomId, $"filler {i}");
        }

        var filter = """{"room":{"timeline":{"limit":3}}}""";
        var sync = await SyncAsync(alice, since, filter: filter);
        var room = sync.GetProperty("rooms").GetProperty("join").GetProperty(roomId);
        room.GetProperty("timeline").GetProperty("limited").GetBoolean().Should().BeTrue();
        Timeline(sync, roomId).Should().HaveCount(3);
        room.GetProperty("state").GetProperty("events").EnumerateArray()
            .Should().ContainSingle(e => e.GetProperty("type").GetString() == "m.room.member" && e.GetProperty("state_key").GetString() == bob.UserId)
            .Which.GetProperty("content").GetProperty("membership").GetString().Should().Be("join");
    }

    [Fact]
    public async Task Current_state_set_while_the_user_could_not_see_the_room_appears_in_the_timeline_on_rejoin()
    {
        var creator = await NewUserAsync();
        var syncer = await NewUserAsync();
        var invitee = await NewUserAsync();
        var roomId = await CreateRoomAsync(creator, new { preset = "public_chat" });
        var escaped = Uri.EscapeDataString(roomId);
        (await syncer.PostAsync($"/_matrix/client/v3/rooms/{escaped}/join", new { })).EnsureOk();
        (await creator.PutAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.history_visibility", new { history_visibility = "joined" })).EnsureOk();
        (await creator.PostAsync($"/_matrix/client/v3/rooms/{escaped}/invite", new { user_id = invitee.UserId })).EnsureOk();
        var since = (await SyncAsync(syncer)).GetProperty("next_batch").GetString();
        (await syncer.PostAsync($"/_matrix/client/v3/rooms/{escaped}/leave", new { })).EnsureOk();
        (await invitee.PostAsync($"/_matrix/client/v3/rooms/{escaped}/join", new { })).EnsureOk();
        await SendAsync(creator, roomId, "while away");
        (await syncer.PostAsync($"/_matrix/client/v3/rooms/{escaped}/join", new { })).EnsureOk();

        var sync = await SyncAsync(syncer, since);

        var timeline = Timeline(sync, roomId).ToList();
        timeline.Should().Contain(e => e.GetProperty("type").GetString() == "m.room.member"
            && e.GetProperty("state_key").GetString() == invitee.UserId
            && e.GetProperty("content").GetProperty("membership").GetString() == "join", "the invitee's join is current state");
        timeline.Should().NotContain(e => e.GetProperty("type").GetString() == "m.room.message", "the message sent while away stays hidden");
    }

    [Fact]
    public async Task An_invalid_since_token_is_M_INVALID_PARAM_not_a_500()
    {
        var alice = await NewUserAsync();
        var response = await alice.GetAsync("/_matrix/client/v3/sync?since=garbage");
        response.Status.Should().Be(System.Net.HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task The_prev_batch_of_sync_paginates_backwards_with_messages()
    {
        var alice = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice);
        for (var i = 0; i < 15; i++)
        {
            await SendAsync(alice, roomId, $"m{i}");
        }

        var sync = await SyncAsync(alice, filter: """{"room":{"timeline":{"limit":5}}}""");
        var timeline = Timeline(sync, roomId).Select(e => e.GetProperty("content").GetProperty("body").GetString()).ToList();
        timeline.Should().Equal("m10", "m11", "m12", "m13", "m14");
        var prevBatch = sync.GetProperty("rooms").GetProperty("join").GetProperty(roomId).GetProperty("timeline").GetProperty("prev_batch").GetString();
        var page = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/messages?dir=b&limit=5&from={Uri.EscapeDataString(prevBatch!)}")).EnsureOk().Json;
        page.GetProperty("chunk").EnumerateArray().Select(e => e.GetProperty("content").GetProperty("body").GetString()).Should().Equal("m9", "m8", "m7", "m6", "m5");
    }
}
