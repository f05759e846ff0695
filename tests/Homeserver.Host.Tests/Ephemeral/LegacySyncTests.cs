using System.Net;
using System.Text.Json;
using Homeserver.Core.Streams;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;
using static Homeserver.Host.Tests.Ephemeral.SyncClient;

namespace Homeserver.Host.Tests.Ephemeral;

/// <summary>The deprecated event stream and initial sync, as SyTest fixtures use them.</summary>
public sealed class LegacySyncTests(TestServer server) : IClassFixture<TestServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    private static IReadOnlyList<JsonElement> Chunk(JsonElement events) => events.GetProperty("chunk").EnumerateArray().ToList();

    [Fact]
    public async Task The_event_stream_continues_from_initial_sync_and_carries_room_events_with_their_room()
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { name = "Legacy" });
        await alice.SendTextAsync(roomId, "before");
        var initial = (await alice.GetAsync("/_matrix/client/r0/initialSync?limit=5")).EnsureOk().Json;
        var room = initial.GetProperty("rooms").EnumerateArray().Single(r => r.GetProperty("room_id").GetString() == roomId);
        room.GetProperty("membership").GetString().Should().Be("join");
        room.GetProperty("messages").GetProperty("chunk").EnumerateArray().Last().Body().Should().Be("before");
        room.GetProperty("state").EnumerateArray().Select(e => e.Type()).Should().Contain(["m.room.create", "m.room.name"]);
        var end = initial.GetProperty("end").GetString()!;

        var eventId = await alice.SendTextAsync(roomId, "after");
        var events = (await alice.GetAsync($"/_matrix/client/r0/events?from={Esc(end)}&timeout=5000")).EnsureOk().Json;
        events.GetProperty("start").GetString().Should().Be(end);

        // Another stream (alice's presence, say) may answer first, at a position short of the message: read on from it.
        for (var attempt = 0; attempt < 10 && !Chunk(events).Any(e => e.Type() == "m.room.message"); attempt++)
        {
            events = (await alice.GetAsync($"/_matrix/client/r0/events?from={Esc(events.GetProperty("end").GetString()!)}&timeout=5000")).EnsureOk().Json;
        }

        var message = Chunk(events).Should().ContainSingle(e => e.Type() == "m.room.message").Which;
        message.GetProperty("event_id").GetString().Should().Be(eventId);
        message.GetProperty("room_id").GetString().Should().Be(roomId);

        // The end token is a sync token and a pagination token too.
        var next = events.GetProperty("end").GetString()!;
        (await alice.GetAsync($"/_matrix/client/v3/sync?since={Esc(next)}")).EnsureOk();
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&from={Esc(next)}&limit=1")).EnsureOk()
            .Json.GetProperty("chunk").EnumerateArray().Single().Body().Should().Be("after");
    }

    [Fact]
    public async Task The_event_stream_long_polls_until_someone_types()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var end = (await alice.GetAsync("/_matrix/client/v3/initialSync?limit=0")).EnsureOk().Json.GetProperty("end").GetString()!;

        // Streaming marks alice online: let that presence change go by first.
        end = (await alice.GetAsync($"/_matrix/client/v3/events?from={Esc(end)}&timeout=200")).EnsureOk().Json.GetProperty("end").GetString()!;
        var poll = alice.GetAsync($"/_matrix/client/v3/events?from={Esc(end)}&timeout=20000");
        await Task.Delay(300);
        poll.IsCompleted.Should().BeFalse();
        (await bob.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/typing/{Esc(bob.UserId!)}", new { typing = true, timeout = 10000 })).EnsureOk();
        var typing = Chunk((await poll).EnsureOk().Json).Should().ContainSingle(e => e.Type() == "m.typing").Which;
        typing.GetProperty("room_id").GetString().Should().Be(roomId);
        typing.GetProperty("content").GetProperty("user_ids").EnumerateArray().Select(u => u.GetString()).Should().Equal(bob.UserId);
    }

    [Fact]
    public async Task An_event_stream_with_nothing_new_times_out_with_no_events()
    {
        var alice = await NewUserAsync();
        var response = (await alice.GetAsync("/_matrix/client/v3/events?timeout=300")).EnsureOk().Json;

        // At most alice's own presence, as streaming marked her online.
        Chunk(response).Where(e => !(e.Type() == "m.presence" && e.GetProperty("sender").GetString() == alice.UserId)).Should().BeEmpty();
        var end = response.GetProperty("end").GetString()!;
        var again = (await alice.GetAsync($"/_matrix/client/v3/events?from={Esc(end)}&timeout=300")).EnsureOk().Json;
        Chunk(again).Should().BeEmpty();
        again.GetProperty("start").GetString().Should().Be(end);
    }

    [Fact]
    public async Task Room_initial_sync_shows_a_joined_room_and_refuses_strangers()
    {
        var alice = await NewUserAsync();
        var stranger = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { name = "Mine" });
        var eventId = await alice.SendTextAsync(roomId, "hello");
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/receipt/m.read/{Esc(eventId)}", new { })).EnsureOk();

        var room = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/initialSync")).EnsureOk().Json;
        room.GetProperty("room_id").GetString().Should().Be(roomId);
        room.GetProperty("messages").GetProperty("chunk").EnumerateArray().Last().Body().Should().Be("hello");
        room.GetProperty("receipts").EnumerateArray().Should().ContainSingle(e => e.Type() == "m.receipt");
        room.GetProperty("visibility").GetString().Should().Be("private");

        var refused = await stranger.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/initialSync");
        refused.Status.Should().Be(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task A_receipt_is_in_the_rooms_initial_sync_even_while_an_earlier_write_is_still_committing()
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { name = "Busy server" });
        var eventId = await alice.SendTextAsync(roomId, "hello");

        // Another write (another room's batch, a presence timeout) holds an earlier stream position: readers stop short
        // of it. It finishes a moment after the receipt is stored, well after a receipt that did not wait was answered.
        var earlier = server.Services.GetRequiredService<StreamPositions>().Reserve();
        var releasedAfterStore = Task.Run(async () =>
        {
            while (await ScalarAsync<long>(server, "SELECT count(*) FROM receipts WHERE room_id = @room", ("room", roomId)) == 0)
            {
                await Task.Delay(50);
            }

            await Task.Delay(50);
            earlier.Dispose();
        });
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/receipt/m.read/{Esc(eventId)}", new { })).EnsureOk();

        var room = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/initialSync")).EnsureOk().Json;
        room.GetProperty("receipts").EnumerateArray().Should().ContainSingle(e => e.Type() == "m.receipt");
        await releasedAfterStore;
    }

    [Fact]
    public async Task An_event_by_id_is_shown_to_members_only()
    {
        var alice = await NewUserAsync();
        var stranger = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var eventId = await alice.SendTextAsync(roomId, "by id");
        (await alice.GetAsync($"/_matrix/client/v3/events/{Esc(eventId)}")).EnsureOk().Json.Body().Should().Be("by id");
        (await stranger.GetAsync($"/_matrix/client/v3/events/{Esc(eventId)}")).Status.Should().Be(HttpStatusCode.NotFound);
        (await alice.GetAsync("/_matrix/client/v3/events/not-an-id")).Status.Should().Be(HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("/_matrix/client/v3/events?from=garbage")]
    [InlineData("/_matrix/client/v3/events?timeout=soon")]
    [InlineData("/_matrix/client/v3/events?room_id=nope")]
    [InlineData("/_matrix/client/v3/initialSync?limit=-1")]
    [InlineData("/_matrix/client/v3/initialSync?archived=maybe")]
    public async Task Bad_parameters_are_a_400(string url)
    {
        var alice = await NewUserAsync();
        var response = await alice.GetAsync(url);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task The_old_apis_leave_out_an_ignored_users_messages_and_invites()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var carol = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob, carol);
        await SetIgnoredUsersAsync(server, alice.UserId!, bob.UserId!);
        var hidden = await bob.SendTextAsync(roomId, "bob before");
        await carol.SendTextAsync(roomId, "carol before");
        var fromBob = await bob.CreateRoomAsync(new { invite = new[] { alice.UserId } });

        var initial = (await alice.GetAsync("/_matrix/client/v3/initialSync?limit=5")).EnsureOk().Json;
        var rooms = initial.GetProperty("rooms").EnumerateArray().ToList();
        rooms.Should().NotContain(r => r.GetProperty("room_id").GetString() == fromBob);
        var room = rooms.Single(r => r.GetProperty("room_id").GetString() == roomId);
        room.GetProperty("messages").GetProperty("chunk").EnumerateArray().Where(e => e.Type() == "m.room.message").Select(e => e.Body()).Should().Equal("carol before");
        (await alice.GetAsync($"/_matrix/client/v3/events/{Esc(hidden)}")).Status.Should().Be(HttpStatusCode.NotFound);

        var end = initial.GetProperty("end").GetString()!;
        await bob.SendTextAsync(roomId, "bob after");
        await carol.SendTextAsync(roomId, "carol after");
        var events = (await alice.GetAsync($"/_matrix/client/v3/events?from={Esc(end)}&timeout=5000")).EnsureOk().Json;
        Chunk(events).Where(e => e.Type() == "m.room.message").Select(e => e.Body()).Should().Equal("carol after");
    }

    [Fact]
    public async Task An_archived_initial_sync_shows_a_rejected_invite_without_the_rooms_state()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { name = "Private name", invite = new[] { bob.UserId } });
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/leave", new { })).EnsureOk();
        var initial = (await bob.GetAsync("/_matrix/client/v3/initialSync?archived=true")).EnsureOk().Json;
        var room = initial.GetProperty("rooms").EnumerateArray().Single(r => r.GetProperty("room_id").GetString() == roomId);
        room.GetProperty("state").EnumerateArray().Should().BeEmpty();
        room.GetRawText().Should().NotContain("Private name");
    }
}
