using System.Net;
using System.Text.Json;
using Homeserver.Core.Configuration;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.RoomTestHelpers;

namespace Homeserver.Host.Tests;

public sealed class DirectoryTests(TestServer server) : IClassFixture<TestServer>
{
    private string Alias(string name) => $"#{name}-{Guid.NewGuid():N}:{server.ServerName}";

    [Fact]
    public async Task An_alias_created_by_a_member_resolves_and_a_taken_alias_is_409()
    {
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var alias = Alias("room");
        (await alice.PutAsync($"/_matrix/client/v3/directory/room/{Esc(alias)}", new { room_id = roomId })).EnsureOk();

        var resolved = (await alice.GetAsync($"/_matrix/client/v3/directory/room/{Esc(alias)}")).EnsureOk().Json;
        resolved.GetProperty("room_id").GetString().Should().Be(roomId);
        resolved.GetProperty("servers").EnumerateArray().Select(s => s.GetString()).Should().Contain(server.ServerName);

        var again = await alice.PutAsync($"/_matrix/client/v3/directory/room/{Esc(alias)}", new { room_id = roomId });
        again.Status.Should().Be(HttpStatusCode.Conflict);
        again.ErrCode.Should().Be("M_UNKNOWN");

        var aliases = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/aliases")).EnsureOk().Json.GetProperty("aliases");
        aliases.EnumerateArray().Select(a => a.GetString()).Should().Equal(alias);
    }

    [Fact]
    public async Task Aliases_are_refused_to_strangers_other_servers_and_malformed_names()
    {
        var alice = await server.NewUserAsync();
        var eve = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();

        var stranger = await eve.PutAsync($"/_matrix/client/v3/directory/room/{Esc(Alias("eve"))}", new { room_id = roomId });
        stranger.Status.Should().Be(HttpStatusCode.Forbidden);
        stranger.ErrCode.Should().Be("M_FORBIDDEN");

        var remote = await alice.PutAsync($"/_matrix/client/v3/directory/room/{Esc("#x:elsewhere.example")}", new { room_id = roomId });
        remote.Status.Should().Be(HttpStatusCode.BadRequest);
        remote.ErrCode.Should().Be("M_INVALID_PARAM");

        var malformed = await alice.PutAsync($"/_matrix/client/v3/directory/room/{Esc("#no-server")}", new { room_id = roomId });
        malformed.Status.Should().Be(HttpStatusCode.BadRequest);
        malformed.ErrCode.Should().Be("M_INVALID_PARAM");

        var noRoom = await alice.PutAsync($"/_matrix/client/v3/directory/room/{Esc(Alias("nothing"))}", new { });
        noRoom.Status.Should().Be(HttpStatusCode.BadRequest);
        noRoom.ErrCode.Should().Be("M_MISSING_PARAM");

        var unknown = await alice.GetAsync($"/_matrix/client/v3/directory/room/{Esc(Alias("unknown"))}");
        unknown.Status.Should().Be(HttpStatusCode.NotFound);
        unknown.ErrCode.Should().Be("M_NOT_FOUND");

        var listing = await eve.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/aliases");
        listing.Status.Should().Be(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Only_the_creator_or_a_member_with_power_over_the_canonical_alias_may_delete_an_alias()
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var carol = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat" });
        await bob.JoinAsync(roomId);
        await carol.JoinAsync(roomId);

        var bobs = Alias("bobs");
        (await bob.PutAsync($"/_matrix/client/v3/directory/room/{Esc(bobs)}", new { room_id = roomId })).EnsureOk();
        var denied = await carol.DeleteAsync($"/_matrix/client/v3/directory/room/{Esc(bobs)}");
        denied.Status.Should().Be(HttpStatusCode.Forbidden);
        denied.ErrCode.Should().Be("M_FORBIDDEN");

        // Alice did not create it but may change the room's canonical alias.
        (await alice.DeleteAsync($"/_matrix/client/v3/directory/room/{Esc(bobs)}")).EnsureOk();
        (await alice.GetAsync($"/_matrix/client/v3/directory/room/{Esc(bobs)}")).Status.Should().Be(HttpStatusCode.NotFound);

        var carols = Alias("carols");
        (await carol.PutAsync($"/_matrix/client/v3/directory/room/{Esc(carols)}", new { room_id = roomId })).EnsureOk();
        (await carol.DeleteAsync($"/_matrix/client/v3/directory/room/{Esc(carols)}")).EnsureOk();
        (await carol.DeleteAsync($"/_matrix/client/v3/directory/room/{Esc(carols)}")).Status.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_canonical_alias_must_point_to_the_room_and_deleting_it_removes_it_from_the_event()
    {
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var otherRoom = await alice.CreateRoomAsync();
        var alias = Alias("canonical");
        var elsewhere = Alias("elsewhere");
        var path = $"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.canonical_alias";

        var missing = await alice.PutAsync(path, new { alias });
        missing.Status.Should().Be(HttpStatusCode.BadRequest);
        missing.ErrCode.Should().Be("M_BAD_ALIAS");

        (await alice.PutAsync($"/_matrix/client/v3/directory/room/{Esc(elsewhere)}", new { room_id = otherRoom })).EnsureOk();
        var wrongRoom = await alice.PutAsync(path, new { alt_aliases = new[] { elsewhere } });
        wrongRoom.Status.Should().Be(HttpStatusCode.BadRequest);
        wrongRoom.ErrCode.Should().Be("M_BAD_ALIAS");

        var notList = await alice.PutAsync(path, new { alt_aliases = "nope" });
        notList.Status.Should().Be(HttpStatusCode.BadRequest);
        notList.ErrCode.Should().Be("M_INVALID_PARAM");

        (await alice.PutAsync($"/_matrix/client/v3/directory/room/{Esc(alias)}", new { room_id = roomId })).EnsureOk();
        (await alice.PutAsync(path, new { alias, alt_aliases = new[] { alias } })).EnsureOk();

        (await alice.DeleteAsync($"/_matrix/client/v3/directory/room/{Esc(alias)}")).EnsureOk();
        var content = (await alice.GetAsync(path)).EnsureOk().Json;
        content.TryGetProperty("alias", out _).Should().BeFalse();
        content.GetProperty("alt_aliases").EnumerateArray().Should().BeEmpty();
    }

    [Fact]
    public async Task The_public_directory_lists_published_rooms_largest_first_with_their_details()
    {
        var tag = Guid.NewGuid().ToString("N")[..12];
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var small = await alice.CreateRoomAsync(new { visibility = "public", preset = "public_chat", name = $"small {tag}" });
        var big = await alice.CreateRoomAsync(new { visibility = "public", preset = "public_chat", name = $"big {tag}", topic = "the big one", room_alias_name = "big" + tag });
        await alice.CreateRoomAsync(new { preset = "public_chat", name = $"unpublished {tag}" });
        await bob.JoinAsync(big);

        var page = (await bob.PostAsync("/_matrix/client/v3/publicRooms", new { filter = new { generic_search_term = tag } })).EnsureOk().Json;
        var chunk = page.GetProperty("chunk").EnumerateArray().ToList();
        chunk.Select(r => r.GetProperty("room_id").GetString()).Should().Equal(big, small);
        page.GetProperty("total_room_count_estimate").GetInt32().Should().Be(2);
        var first = chunk[0];
        first.GetProperty("num_joined_members").GetInt32().Should().Be(2);
        first.GetProperty("topic").GetString().Should().Be("the big one");
        first.GetProperty("canonical_alias").GetString().Should().Be($"#big{tag}:{server.ServerName}");
        first.GetProperty("join_rule").GetString().Should().Be("public");
        first.GetProperty("world_readable").GetBoolean().Should().BeFalse();
        first.GetProperty("guest_can_join").GetBoolean().Should().BeFalse();

        // The search term also matches the topic, case-insensitively.
        var byTopic = (await bob.PostAsync("/_matrix/client/v3/publicRooms", new { filter = new { generic_search_term = "THE BIG ONE" } })).EnsureOk().Json;
        byTopic.GetProperty("chunk").EnumerateArray().Select(r => r.GetProperty("room_id").GetString()).Should().Contain(big).And.NotContain(small);
    }

    [Fact]
    public async Task The_public_directory_pages_forwards_and_back()
    {
        var tag = Guid.NewGuid().ToString("N")[..12];
        var alice = await server.NewUserAsync();
        var rooms = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            rooms.Add(await alice.CreateRoomAsync(new { visibility = "public", preset = "public_chat", name = $"paged {tag} {i}" }));
        }

        var expected = rooms.Order(StringComparer.Ordinal).ToList(); // equal sizes: by room ID
        var seen = new List<string>();
        string? since = null;
        JsonElement page = default;
        for (var i = 0; i < 3; i++)
        {
            page = (await alice.PostAsync("/_matrix/client/v3/publicRooms", new { limit = 1, since, filter = new { generic_search_term = tag } })).EnsureOk().Json;
            seen.Add(page.GetProperty("chunk")[0].GetProperty("room_id").GetString()!);
            since = page.TryGetProperty("next_batch", out var next) ? next.GetString() : null;
        }

        seen.Should().Equal(expected);
        since.Should().BeNull();
        var back = (await alice.PostAsync("/_matrix/client/v3/publicRooms", new { limit = 1, since = page.GetProperty("prev_batch").GetString(), filter = new { generic_search_term = tag } })).EnsureOk().Json;
        back.GetProperty("chunk")[0].GetProperty("room_id").GetString().Should().Be(expected[1]);

        var bad = await alice.GetAsync("/_matrix/client/v3/publicRooms?since=garbage!");
        bad.Status.Should().Be(HttpStatusCode.BadRequest);
        bad.ErrCode.Should().Be("M_INVALID_PARAM");
        (await alice.GetAsync("/_matrix/client/v3/publicRooms?limit=-1")).ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task Room_types_filter_the_directory_and_null_means_rooms_without_a_type()
    {
        var tag = Guid.NewGuid().ToString("N")[..12];
        var alice = await server.NewUserAsync();
        var space = await alice.CreateRoomAsync(new { visibility = "public", preset = "public_chat", name = $"space {tag}", creation_content = new { type = "m.space" } });
        var plain = await alice.CreateRoomAsync(new { visibility = "public", preset = "public_chat", name = $"plain {tag}" });

        var spaces = (await alice.PostAsync("/_matrix/client/v3/publicRooms", new { filter = new { generic_search_term = tag, room_types = new[] { "m.space" } } })).EnsureOk().Json;
        spaces.GetProperty("chunk").EnumerateArray().Select(r => r.GetProperty("room_id").GetString()).Should().Equal(space);
        spaces.GetProperty("chunk")[0].GetProperty("room_type").GetString().Should().Be("m.space");

        var untyped = (await alice.PostAsync("/_matrix/client/v3/publicRooms", new { filter = new { generic_search_term = tag, room_types = new string?[] { null } } })).EnsureOk().Json;
        untyped.GetProperty("chunk").EnumerateArray().Select(r => r.GetProperty("room_id").GetString()).Should().Equal(plain);
    }

    [Fact]
    public async Task Directory_visibility_is_read_by_anyone_and_changed_only_with_power()
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { visibility = "public", preset = "public_chat" });
        await bob.JoinAsync(roomId);
        var path = $"/_matrix/client/v3/directory/list/room/{Esc(roomId)}";
        (await bob.GetAsync(path)).EnsureOk().Json.GetProperty("visibility").GetString().Should().Be("public");

        var denied = await bob.PutAsync(path, new { visibility = "private" });
        denied.Status.Should().Be(HttpStatusCode.Forbidden);
        (await alice.PutAsync(path, new { visibility = "secret" })).ErrCode.Should().Be("M_INVALID_PARAM");
        (await alice.PutAsync(path, new { visibility = "private" })).EnsureOk();
        (await bob.GetAsync(path)).EnsureOk().Json.GetProperty("visibility").GetString().Should().Be("private");
        (await alice.GetAsync($"/_matrix/client/v3/directory/list/room/{Esc("!unknown:" + server.ServerName)}")).Status.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_directory_needs_a_token_unless_configured_otherwise()
    {
        var anonymous = new MatrixClient(server.Client);
        var response = await anonymous.GetAsync("/_matrix/client/v3/publicRooms");
        response.Status.Should().Be(HttpStatusCode.Unauthorized);
        response.ErrCode.Should().Be("M_MISSING_TOKEN");
    }
}

/// <summary>A server whose public room directory is open to anonymous clients and to other servers.</summary>
public sealed class OpenDirectoryServer : TestServer
{
    protected override HomeserverConfig Configure(HomeserverConfig config) => config with { AllowPublicRoomsWithoutAuth = true, AllowPublicRoomsOverFederation = true };

    protected override bool UseTls => true;
}

/// <summary>An open directory server (A) and a closed one (B), federating.</summary>
public sealed class DirectoryServers : IAsyncLifetime
{
    public OpenDirectoryServer A { get; } = new();

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

public sealed class DirectoryFederationTests(DirectoryServers servers) : IClassFixture<DirectoryServers>
{
    [Fact]
    public async Task A_client_reads_another_servers_directory_and_resolves_its_aliases_over_federation()
    {
        var tag = Guid.NewGuid().ToString("N")[..12];
        var alice = await servers.A.NewUserAsync();
        var bob = await servers.B.NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { visibility = "public", preset = "public_chat", name = $"federated {tag}", room_alias_name = "fed" + tag });

        var remote = (await bob.GetAsync($"/_matrix/client/v3/publicRooms?server={Esc(servers.A.ServerName)}")).EnsureOk().Json;
        remote.GetProperty("chunk").EnumerateArray().Select(r => r.GetProperty("room_id").GetString()).Should().Contain(roomId);

        var filtered = (await bob.PostAsync($"/_matrix/client/v3/publicRooms?server={Esc(servers.A.ServerName)}", new { filter = new { generic_search_term = tag } })).EnsureOk().Json;
        filtered.GetProperty("chunk").EnumerateArray().Select(r => r.GetProperty("room_id").GetString()).Should().Equal(roomId);

        var alias = $"#fed{tag}:{servers.A.ServerName}";
        var resolved = (await bob.GetAsync($"/_matrix/client/v3/directory/room/{Esc(alias)}")).EnsureOk().Json;
        resolved.GetProperty("room_id").GetString().Should().Be(roomId);
        (await bob.GetAsync($"/_matrix/client/v3/directory/room/{Esc("#missing" + tag + ":" + servers.A.ServerName)}")).Status.Should().Be(HttpStatusCode.NotFound);

        // A also lets anonymous clients read its directory.
        (await new MatrixClient(servers.A.Client).GetAsync("/_matrix/client/v3/publicRooms")).EnsureOk();
    }

    [Fact]
    public async Task A_server_that_keeps_its_directory_from_federation_refuses_and_unsigned_requests_are_401()
    {
        var alice = await servers.A.NewUserAsync();
        var refused = await alice.GetAsync($"/_matrix/client/v3/publicRooms?server={Esc(servers.B.ServerName)}");
        refused.Status.Should().Be(HttpStatusCode.BadGateway);

        var unsigned = await new MatrixClient(servers.A.Client).GetAsync("/_matrix/federation/v1/publicRooms");
        unsigned.Status.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Relations_and_search_text_of_events_from_another_server_are_indexed_on_arrival()
    {
        var word = "quokka" + new string(Guid.NewGuid().ToByteArray().Take(6).Select(b => "bcdfghjklmnpqrtvwxz"[b % 19]).ToArray());
        var alice = await servers.A.NewUserAsync();
        var bob = await servers.B.NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat" });
        (await bob.PostAsync($"/_matrix/client/v3/join/{Esc(roomId)}?server_name={Esc(servers.A.ServerName)}", new { })).EnsureOk();
        var root = await alice.SayAsync(roomId, "a thread starts here");
        var reply = await bob.SendAsync(roomId, new System.Text.Json.Nodes.JsonObject
        {
            ["msgtype"] = "m.text",
            ["body"] = $"a {word} replies",
            ["m.relates_to"] = new System.Text.Json.Nodes.JsonObject { ["rel_type"] = "m.thread", ["event_id"] = root },
        });

        // Once B's event reached A, A bundles it into the root's thread summary and finds it by full-text search.
        JsonElement thread = default;
        for (var i = 0; i < 100; i++)
        {
            var ev = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/event/{Esc(root)}")).EnsureOk().Json;
            if (ev.GetProperty("unsigned").TryGetProperty("m.relations", out var relations) && relations.TryGetProperty("m.thread", out thread))
            {
                break;
            }

            await Task.Delay(200);
        }

        thread.ValueKind.Should().Be(JsonValueKind.Object, "the reply arrived over federation");
        thread.GetProperty("latest_event").GetProperty("event_id").GetString().Should().Be(reply);
        var search = (await alice.PostAsync("/_matrix/client/v3/search", new { search_categories = new { room_events = new { search_term = word } } })).EnsureOk().Json;
        search.GetProperty("search_categories").GetProperty("room_events").GetProperty("results")[0].GetProperty("result").GetProperty("event_id").GetString().Should().Be(reply);
    }
}
