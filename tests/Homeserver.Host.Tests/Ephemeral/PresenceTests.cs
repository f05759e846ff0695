using System.Net;
using System.Text.Json;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Ephemeral.SyncClient;

namespace Homeserver.Host.Tests.Ephemeral;

public sealed class PresenceTests(TestServer server) : IClassFixture<TestServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    private static Task<MatrixClient.Response> SetAsync(MatrixClient client, object body, string? userId = null) =>
        client.PutAsync($"/_matrix/client/v3/presence/{Esc(userId ?? client.UserId!)}/status", body);

    private static Task<MatrixClient.Response> GetAsync(MatrixClient client, string userId) =>
        client.GetAsync($"/_matrix/client/v3/presence/{Esc(userId)}/status");

    private static JsonElement? PresenceOf(JsonElement sync, string userId) =>
        sync.PresenceEvents().Where(e => e.GetProperty("sender").GetString() == userId).Select(e => (JsonElement?)e.GetProperty("content")).LastOrDefault();

    [Fact]
    public async Task A_user_sets_and_reads_their_own_presence_and_status_message()
    {
        var alice = await NewUserAsync();
        (await SetAsync(alice, new { presence = "unavailable", status_msg = "at lunch" })).EnsureOk();
        var got = (await GetAsync(alice, alice.UserId!)).EnsureOk().Json;
        got.GetProperty("presence").GetString().Should().Be("unavailable");
        got.GetProperty("status_msg").GetString().Should().Be("at lunch");
        got.GetProperty("last_active_ago").GetInt64().Should().BeGreaterThanOrEqualTo(0);
        got.TryGetProperty("currently_active", out _).Should().BeFalse("currently_active is only given when online");
    }

    [Fact]
    public async Task Setting_online_makes_the_user_currently_active()
    {
        var alice = await NewUserAsync();
        (await SetAsync(alice, new { presence = "online" })).EnsureOk();
        var got = (await GetAsync(alice, alice.UserId!)).EnsureOk().Json;
        got.GetProperty("presence").GetString().Should().Be("online");
        got.GetProperty("currently_active").GetBoolean().Should().BeTrue();
        got.GetProperty("last_active_ago").GetInt64().Should().BeLessThan(60_000);
    }

    [Fact]
    public async Task A_member_of_a_shared_room_sees_presence_changes_in_sync_and_through_the_api()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        await SharedRoomAsync(alice, bob);
        var since = (await bob.SyncAsync(extra: "set_presence=offline")).NextBatch();

        (await SetAsync(alice, new { presence = "unavailable", status_msg = "busy" })).EnsureOk();
        var sync = await bob.SyncUntilAsync(since, s => PresenceOf(s, alice.UserId!) is { } p && p.GetProperty("presence").GetString() == "unavailable");
        PresenceOf(sync, alice.UserId!)!.Value.GetProperty("status_msg").GetString().Should().Be("busy");
        (await GetAsync(bob, alice.UserId!)).EnsureOk().Json.GetProperty("presence").GetString().Should().Be("unavailable");
    }

    [Fact]
    public async Task A_stranger_cannot_read_presence_and_never_receives_it()
    {
        var alice = await NewUserAsync();
        var stranger = await NewUserAsync();
        await alice.CreateRoomAsync();
        var since = (await stranger.SyncAsync()).NextBatch();
        (await SetAsync(alice, new { presence = "online", status_msg = "private" })).EnsureOk();

        var response = await GetAsync(stranger, alice.UserId!);
        response.Status.Should().Be(HttpStatusCode.Forbidden);
        response.ErrCode.Should().Be("M_FORBIDDEN");
        PresenceOf(await stranger.SyncAsync(since, timeout: 500), alice.UserId!).Should().BeNull();
        PresenceOf(await stranger.SyncAsync(), alice.UserId!).Should().BeNull();
    }

    [Fact]
    public async Task An_initial_sync_carries_the_presence_of_online_room_mates()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        await SharedRoomAsync(alice, bob);
        (await SetAsync(alice, new { presence = "online", status_msg = "here" })).EnsureOk();
        var presence = PresenceOf(await bob.SyncAsync(extra: "set_presence=offline"), alice.UserId!);
        presence.Should().NotBeNull();
        presence!.Value.GetProperty("presence").GetString().Should().Be("online");
        presence.Value.GetProperty("status_msg").GetString().Should().Be("here");
    }

    [Fact]
    public async Task Syncing_marks_a_user_online_unless_set_presence_says_otherwise()
    {
        var alice = await NewUserAsync();
        await alice.SyncAsync(extra: "set_presence=offline");
        (await GetAsync(alice, alice.UserId!)).EnsureOk().Json.GetProperty("presence").GetString().Should().Be("offline");

        await alice.SyncAsync(extra: "set_presence=unavailable");
        (await GetAsync(alice, alice.UserId!)).EnsureOk().Json.GetProperty("presence").GetString().Should().Be("unavailable");

        await alice.SyncAsync();
        (await GetAsync(alice, alice.UserId!)).EnsureOk().Json.GetProperty("presence").GetString().Should().Be("online");
    }

    [Fact]
    public async Task The_presence_filter_can_leave_presence_out()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        await SharedRoomAsync(alice, bob);
        (await SetAsync(alice, new { presence = "online" })).EnsureOk();
        var sync = await bob.SyncAsync(filter: WithoutPresence);
        sync.PresenceEvents().Should().BeEmpty();
        var bySender = await bob.SyncAsync(filter: $$$"""{"presence":{"not_senders":["{{{alice.UserId}}}"]}}""");
        PresenceOf(bySender, alice.UserId!).Should().BeNull();
    }

    [Fact]
    public async Task A_long_poll_that_leaves_presence_out_sleeps_through_a_presence_change()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var since = (await bob.SyncAsync(filter: WithoutPresence)).NextBatch();

        var poll = bob.SyncAsync(since, timeout: 20_000, filter: WithoutPresence);
        (await SetAsync(alice, new { presence = "unavailable", status_msg = "away for lunch" })).EnsureOk();
        await Task.Delay(500);
        poll.IsCompleted.Should().BeFalse("the only news is presence, which the filter leaves out");

        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/typing/{Esc(alice.UserId!)}", new { typing = true, timeout = 10000 })).EnsureOk();
        var answer = await poll;
        answer.PresenceEvents().Should().BeEmpty();
        answer.Ephemeral(roomId).Should().Contain(e => e.Type() == "m.typing");
    }

    [Theory]
    [InlineData("""{"presence":"away"}""", "M_INVALID_PARAM")]
    [InlineData("""{"status_msg":"hi"}""", "M_MISSING_PARAM")]
    [InlineData("""{"presence":"online","status_msg":5}""", "M_BAD_JSON")]
    [InlineData("""{"presence":true}""", "M_BAD_JSON")]
    public async Task Bad_presence_is_a_400(string body, string errcode)
    {
        var alice = await NewUserAsync();
        var response = await alice.SendAsync(HttpMethod.Put, $"/_matrix/client/v3/presence/{Esc(alice.UserId!)}/status", null, body);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }

    [Fact]
    public async Task Nobody_sets_the_presence_of_someone_else()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        (await SetAsync(alice, new { presence = "online" }, bob.UserId)).Status.Should().Be(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task An_unknown_set_presence_value_is_M_INVALID_PARAM()
    {
        var alice = await NewUserAsync();
        var response = await alice.GetAsync("/_matrix/client/v3/sync?set_presence=dancing");
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_INVALID_PARAM");
    }
}
