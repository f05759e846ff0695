using System.Text.Json;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

/// <summary>A homeserver that federates over TLS with a certificate of the test CA.</summary>
public sealed class FederatedTestServer : TestServer
{
    protected override bool UseTls => true;
}

/// <summary>Two of our servers on loopback, each with its own database and key, federating over TLS.</summary>
public sealed class TwoServers : IAsyncLifetime
{
    public FederatedTestServer A { get; } = new();

    public FederatedTestServer B { get; } = new();

    public async Task InitializeAsync()
    {
        await A.InitializeAsync();
        await B.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }
}

public sealed class FederationTests(TwoServers servers) : IClassFixture<TwoServers>
{
    private static string Esc(string s) => Uri.EscapeDataString(s);

    private static async Task<JsonElement> SyncUntilAsync(MatrixClient client, Func<JsonElement, bool> done, TimeSpan timeout)
    {
        string? since = null;
        var deadline = DateTime.UtcNow + timeout;
        var all = new List<JsonElement>();
        while (DateTime.UtcNow < deadline)
        {
            var url = "/_matrix/client/v3/sync?timeout=2000" + (since is null ? string.Empty : "&since=" + Esc(since));
            var sync = (await client.GetAsync(url)).EnsureOk().Json;
            since = sync.GetProperty("next_batch").GetString();
            if (done(sync))
            {
                return sync;
            }
        }

        throw new TimeoutException("the expected sync never came");
    }

    private static IEnumerable<JsonElement> TimelineOf(JsonElement sync, string roomId) =>
        sync.GetProperty("rooms").GetProperty("join").TryGetProperty(roomId, out var room)
            ? room.GetProperty("timeline").GetProperty("events").EnumerateArray()
            : [];

    [Fact]
    public async Task A_user_on_one_server_invites_a_user_on_the_other_who_joins_and_they_chat_both_ways()
    {
        var alice = await new MatrixClient(servers.A.Client).RegisterAsync();
        var bob = await new MatrixClient(servers.B.Client).RegisterAsync();
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { name = "Federated", invite = new[] { bob.UserId } })).EnsureOk()
            .Json.GetProperty("room_id").GetString()!;

        // Bob's server got the invite over federation and shows it with the room's name.
        var invited = await SyncUntilAsync(bob, s => s.GetProperty("rooms").GetProperty("invite").TryGetProperty(roomId, out _), TimeSpan.FromSeconds(30));
        invited.GetProperty("rooms").GetProperty("invite").GetProperty(roomId).GetProperty("invite_state").GetProperty("events").EnumerateArray()
            .Should().Contain(e => e.GetProperty("type").GetString() == "m.room.name");

        (await bob.PostAsync($"/_matrix/client/v3/join/{Esc(roomId)}", new { })).EnsureOk();
        var bobState = (await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/joined_members")).EnsureOk().Json.GetProperty("joined");
        bobState.EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo([alice.UserId, bob.UserId]);

        // Alice's server hears of the join.
        await SyncUntilAsync(alice, s => TimelineOf(s, roomId).Any(e => e.GetProperty("type").GetString() == "m.room.member" && e.GetProperty("state_key").GetString() == bob.UserId), TimeSpan.FromSeconds(30));

        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/a1", new { msgtype = "m.text", body = "hello from A" })).EnsureOk();
        await SyncUntilAsync(bob, s => TimelineOf(s, roomId).Any(e => e.GetProperty("content").TryGetProperty("body", out var b) && b.GetString() == "hello from A"), TimeSpan.FromSeconds(30));

        (await bob.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/b1", new { msgtype = "m.text", body = "hello from B" })).EnsureOk();
        await SyncUntilAsync(alice, s => TimelineOf(s, roomId).Any(e => e.GetProperty("content").TryGetProperty("body", out var b) && b.GetString() == "hello from B"), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Joining_a_room_upgraded_on_another_server_brings_this_servers_aliases_and_the_users_tags_along()
    {
        var alice = await new MatrixClient(servers.A.Client).RegisterAsync();
        var bob = await new MatrixClient(servers.B.Client).RegisterAsync();
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat" })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        (await bob.PostAsync($"/_matrix/client/v3/join/{Esc(roomId)}?server_name={Esc(servers.A.ServerName)}", new { })).EnsureOk();
        var alias = $"#upgraded-{Guid.NewGuid():N}:{servers.B.ServerName}";
        (await bob.PutAsync($"/_matrix/client/v3/directory/room/{Esc(alias)}", new { room_id = roomId })).EnsureOk();
        (await bob.PutAsync($"/_matrix/client/v3/user/{Esc(bob.UserId!)}/rooms/{Esc(roomId)}/tags/u.work", new { order = 0.5 })).EnsureOk();
        await SyncUntilAsync(alice, s => TimelineOf(s, roomId).Any(e => e.GetProperty("type").GetString() == "m.room.member" && e.GetProperty("state_key").GetString() == bob.UserId), TimeSpan.FromSeconds(30));

        var newRoomId = (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/upgrade", new { new_version = "12" })).EnsureOk()
            .Json.GetProperty("replacement_room").GetString()!;
        (await bob.PostAsync($"/_matrix/client/v3/join/{Esc(newRoomId)}?server_name={Esc(servers.A.ServerName)}", new { })).EnsureOk();

        (await bob.GetAsync($"/_matrix/client/v3/directory/room/{Esc(alias)}")).EnsureOk().Json.GetProperty("room_id").GetString().Should().Be(newRoomId);
        (await bob.GetAsync($"/_matrix/client/v3/user/{Esc(bob.UserId!)}/rooms/{Esc(newRoomId)}/tags")).EnsureOk()
            .Json.GetProperty("tags").TryGetProperty("u.work", out _).Should().BeTrue();
    }

    [Fact]
    public async Task A_server_that_was_down_receives_everything_it_missed_in_order()
    {
        var alice = await new MatrixClient(servers.A.Client).RegisterAsync();
        var bob = await new MatrixClient(servers.B.Client).RegisterAsync();
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat" })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        (await bob.PostAsync($"/_matrix/client/v3/join/{Esc(roomId)}?server_name={Esc(servers.A.ServerName)}", new { })).EnsureOk();
        await SyncUntilAsync(alice, s => TimelineOf(s, roomId).Any(e => e.GetProperty("type").GetString() == "m.room.member" && e.GetProperty("state_key").GetString() == bob.UserId), TimeSpan.FromSeconds(30));

        await servers.B.StopAsync();
        var sent = new List<string>();
        for (var i = 0; i < 200; i++)
        {
            var r = (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/down{i}", new { msgtype = "m.text", body = $"missed {i}" })).EnsureOk();
            sent.Add(r.Json.GetProperty("event_id").GetString()!);
        }

        await servers.B.RestartAsync();

        // B's restart is noticed when B next talks to A; B sends a message, which also clears A's backoff.
        (await bob.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/back", new { msgtype = "m.text", body = "I am back" })).EnsureOk();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        List<string> received = [];
        while (DateTime.UtcNow < deadline)
        {
            var page = (await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&limit=500")).EnsureOk().Json;
            received = page.GetProperty("chunk").EnumerateArray()
                .Where(e => e.GetProperty("content").TryGetProperty("body", out var b) && b.GetString()!.StartsWith("missed ", StringComparison.Ordinal))
                .Select(e => e.GetProperty("event_id").GetString()!).Reverse().ToList();
            if (received.Count == sent.Count)
            {
                break;
            }

            await Task.Delay(500);
        }

        received.Should().Equal(sent);
    }
}
