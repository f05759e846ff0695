using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Ephemeral.SyncClient;

namespace Homeserver.Host.Tests.Ephemeral;

public sealed class TypingTests(TestServer server) : IClassFixture<TestServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    private static Task<MatrixClient.Response> TypeAsync(MatrixClient client, string roomId, object body, string? userId = null) =>
        client.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/typing/{Esc(userId ?? client.UserId!)}", body);

    private static IReadOnlyList<string>? TypingUsers(JsonElement sync, string roomId) =>
        sync.Ephemeral(roomId).Where(e => e.Type() == "m.typing").Select(e => e.GetProperty("content").GetProperty("user_ids").EnumerateArray().Select(u => u.GetString()!).ToList()).FirstOrDefault();

    [Fact]
    public async Task A_typing_user_appears_in_the_ephemeral_events_of_other_members_and_disappears_when_they_stop()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var since = (await bob.SyncAsync()).NextBatch();

        (await TypeAsync(alice, roomId, new { typing = true, timeout = 30000 })).EnsureOk();
        var sync = await bob.SyncAsync(since);
        TypingUsers(sync, roomId).Should().Equal(alice.UserId);

        (await TypeAsync(alice, roomId, new { typing = false })).EnsureOk();
        var after = await bob.SyncAsync(sync.NextBatch());
        TypingUsers(after, roomId).Should().NotBeNull().And.BeEmpty();
    }

    [Fact]
    public async Task Typing_wakes_a_long_poll_of_another_member()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var since = (await bob.SyncAsync(filter: WithoutPresence)).NextBatch();

        var watch = Stopwatch.StartNew();
        var poll = bob.SyncAsync(since, timeout: 20_000, filter: WithoutPresence);
        await Task.Delay(300);
        poll.IsCompleted.Should().BeFalse("nothing has happened yet");
        (await TypeAsync(alice, roomId, new { typing = true, timeout = 10000 })).EnsureOk();
        var sync = await poll;
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(15));
        TypingUsers(sync, roomId).Should().Equal(alice.UserId);
    }

    [Fact]
    public async Task A_typing_notification_expires_after_its_timeout()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        (await TypeAsync(alice, roomId, new { typing = true, timeout = 500 })).EnsureOk();
        var first = await bob.SyncAsync();
        TypingUsers(first, roomId).Should().Equal(alice.UserId);

        var expired = await bob.SyncUntilAsync(first.NextBatch(), s => TypingUsers(s, roomId) is { Count: 0 });
        TypingUsers(expired, roomId).Should().BeEmpty();
    }

    [Fact]
    public async Task An_initial_sync_shows_who_is_typing_now()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        (await TypeAsync(alice, roomId, new { typing = true, timeout = 30000 })).EnsureOk();
        TypingUsers(await bob.SyncAsync(), roomId).Should().Equal(alice.UserId);
    }

    [Fact]
    public async Task An_initial_sync_after_a_stop_shows_the_empty_typing_list()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        (await TypeAsync(alice, roomId, new { typing = true, timeout = 30000 })).EnsureOk();
        (await TypeAsync(alice, roomId, new { typing = false })).EnsureOk();

        // As Synapse: a client starting afresh learns that nobody types (rather than nothing about typing).
        TypingUsers(await bob.SyncAsync(), roomId).Should().NotBeNull().And.BeEmpty();
    }

    [Fact]
    public async Task Nobody_can_set_the_typing_state_of_someone_else()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var response = await TypeAsync(alice, roomId, new { typing = true, timeout = 1000 }, bob.UserId);
        response.ErrCode.Should().Be("M_FORBIDDEN");
    }

    [Fact]
    public async Task Typing_in_a_room_you_are_not_joined_to_is_forbidden()
    {
        var alice = await NewUserAsync();
        var mallory = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var response = await TypeAsync(mallory, roomId, new { typing = true, timeout = 1000 });
        response.Status.Should().Be(HttpStatusCode.Forbidden);
        response.ErrCode.Should().Be("M_FORBIDDEN");
    }

    [Theory]
    [InlineData("""{"timeout": 1000}""", "M_MISSING_PARAM")]
    [InlineData("""{"typing": "yes"}""", "M_BAD_JSON")]
    [InlineData("""{"typing": true, "timeout": "long"}""", "M_BAD_JSON")]
    [InlineData("""[true]""", "M_BAD_JSON")]
    [InlineData("""not json""", "M_NOT_JSON")]
    public async Task A_malformed_typing_request_is_a_400_with_a_precise_code(string body, string errcode)
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var response = await alice.SendAsync(HttpMethod.Put, $"/_matrix/client/v3/rooms/{Esc(roomId)}/typing/{Esc(alice.UserId!)}", null, body);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }

    [Fact]
    public async Task A_token_from_before_a_restart_resends_the_typing_list_of_every_joined_room()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var current = (await bob.SyncAsync()).NextBatch();

        // Same stream position, but the typing serial of an earlier process (far below this one's).
        var stream = current.Split('_')[1];
        var sync = await bob.SyncAsync($"s1_{stream}_5");
        TypingUsers(sync, roomId).Should().NotBeNull("stale typing lists must be cleared").And.BeEmpty();
    }

    [Fact]
    public async Task An_ephemeral_filter_without_m_typing_leaves_typing_out()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        (await TypeAsync(alice, roomId, new { typing = true, timeout = 30000 })).EnsureOk();
        var sync = await bob.SyncAsync(filter: """{"room":{"ephemeral":{"not_types":["m.typ*"]}}}""");
        TypingUsers(sync, roomId).Should().BeNull();
    }
}
