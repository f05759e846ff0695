using System.Net;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class SearchAllServer() : ConfiguredServer(c => c with { Accounts = c.Accounts with { UserDirectorySearchAllUsers = true } });

public sealed class UserDirectorySearchAllTests(SearchAllServer server) : IClassFixture<SearchAllServer>
{
    private static async Task<System.Text.Json.JsonElement> SearchAsync(MatrixClient user, string term, int? limit = null) =>
        (await user.PostAsync("/_matrix/client/v3/user_directory/search", limit is null ? new { search_term = term } : new { search_term = term, limit })).EnsureOk().Json;

    [Fact]
    public async Task Users_are_found_by_a_word_prefix_of_their_id_or_display_name()
    {
        var tag = Guid.NewGuid().ToString("N")[..8];
        var searcher = await RegisterAsync(server);
        var alice = await RegisterAsync(server, "alice" + tag);
        (await alice.PutAsync($"/_matrix/client/v3/profile/{alice.UserId}/displayname", new { displayname = $"Wonder{tag} Liddell" })).EnsureOk();
        (await alice.PutAsync($"/_matrix/client/v3/profile/{alice.UserId}/avatar_url", new { avatar_url = "mxc://x/a" })).EnsureOk();

        var byId = await SearchAsync(searcher, "alice" + tag);
        byId.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("user_id").GetString()).Should().Equal(alice.UserId);
        var hit = byId.GetProperty("results")[0];
        hit.GetProperty("display_name").GetString().Should().Be($"Wonder{tag} Liddell");
        hit.GetProperty("avatar_url").GetString().Should().Be("mxc://x/a");

        (await SearchAsync(searcher, "wonder" + tag[..4])).GetProperty("results").GetArrayLength().Should().Be(1);
        (await SearchAsync(searcher, $"WONDER{tag} lid")).GetProperty("results").GetArrayLength().Should().Be(1);
        (await SearchAsync(searcher, $"onder{tag}")).GetProperty("results").GetArrayLength().Should().Be(0, "only word prefixes match");
        (await SearchAsync(searcher, $"wonder{tag} nobody")).GetProperty("results").GetArrayLength().Should().Be(0, "every term must match");
    }

    [Fact]
    public async Task Limit_cuts_the_results_and_sets_limited()
    {
        var tag = "lim" + Guid.NewGuid().ToString("N")[..6];
        var searcher = await RegisterAsync(server);
        for (var i = 0; i < 3; i++)
        {
            await RegisterAsync(server, $"{tag}_{i}");
        }

        var two = await SearchAsync(searcher, tag, 2);
        two.GetProperty("results").GetArrayLength().Should().Be(2);
        two.GetProperty("limited").GetBoolean().Should().BeTrue();
        var all = await SearchAsync(searcher, tag);
        all.GetProperty("results").GetArrayLength().Should().Be(3);
        all.GetProperty("limited").GetBoolean().Should().BeFalse();
    }

    [Fact]
    public async Task Deactivated_users_and_guests_are_not_found()
    {
        var tag = "gone" + Guid.NewGuid().ToString("N")[..6];
        var searcher = await RegisterAsync(server);
        var gone = await RegisterAsync(server, tag);
        (await WithPasswordAsync(gone, HttpMethod.Post, "/_matrix/client/v3/account/deactivate")).EnsureOk();
        (await SearchAsync(searcher, tag)).GetProperty("results").GetArrayLength().Should().Be(0);
    }

    [Fact]
    public async Task Malformed_searches_are_refused()
    {
        var user = await RegisterAsync(server);
        (await user.PostAsync("/_matrix/client/v3/user_directory/search", new { })).ErrCode.Should().Be("M_MISSING_PARAM");
        (await user.PostAsync("/_matrix/client/v3/user_directory/search", new { search_term = 1 })).ErrCode.Should().Be("M_BAD_JSON");
        (await user.PostAsync("/_matrix/client/v3/user_directory/search", new { search_term = "a", limit = "ten" })).ErrCode.Should().Be("M_BAD_JSON");
        (await user.PostAsync("/_matrix/client/v3/user_directory/search", new { search_term = "a", limit = -1 })).ErrCode.Should().Be("M_INVALID_PARAM");
        (await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/user_directory/search", new { search_term = "a" })).ErrCode.Should().Be("M_MISSING_TOKEN");
        (await SearchAsync(user, "%_")).GetProperty("results").GetArrayLength().Should().Be(0);
    }
}

/// <summary>The default: only the searcher, users sharing a room with them, and users in public rooms.</summary>
public sealed class UserDirectorySharedRoomsTests(TestServer server) : IClassFixture<TestServer>
{
    private static async Task<string[]> FoundAsync(MatrixClient user, string term) =>
        (await user.PostAsync("/_matrix/client/v3/user_directory/search", new { search_term = term })).EnsureOk()
            .Json.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("user_id").GetString()!).ToArray();

    [Fact]
    public async Task Without_rooms_only_the_searcher_is_found()
    {
        var tag = "solo" + Guid.NewGuid().ToString("N")[..6];
        var me = await RegisterAsync(server, tag + "_me");
        await RegisterAsync(server, tag + "_stranger");
        (await FoundAsync(me, tag)).Should().Equal(me.UserId);
    }

    /// <summary>
    /// Stands in for the rooms work: its room_memberships table (0001 in the rooms branch) with rooms, join rules in
    /// the current state, and memberships. The directory query must find room-mates and members of public rooms.
    /// </summary>
    [Fact]
    public async Task Users_sharing_a_joined_room_or_in_a_public_room_are_found()
    {
        var tag = "rm" + Guid.NewGuid().ToString("N")[..6];
        var me = await RegisterAsync(server, tag + "_me");
        var mate = await RegisterAsync(server, tag + "_mate");
        var publicMember = await RegisterAsync(server, tag + "_public");
        var stranger = await RegisterAsync(server, tag + "_stranger");
        var left = await RegisterAsync(server, tag + "_left");

        await ExecuteAsync(server, """
            CREATE TABLE IF NOT EXISTS room_memberships (
                room_nid bigint NOT NULL REFERENCES rooms (room_nid), user_id text NOT NULL, membership text NOT NULL,
                event_nid bigint NOT NULL REFERENCES events (event_nid), stream_ordering bigint NOT NULL, PRIMARY KEY (room_nid, user_id));
            """);
        var privateRoom = await AddRoomAsync("invite", tag + "priv");
        var publicRoom = await AddRoomAsync("public", tag + "pub");
        await JoinAsync(privateRoom.Room, privateRoom.Event, me.UserId!, "join");
        await JoinAsync(privateRoom.Room, privateRoom.Event, mate.UserId!, "join");
        await JoinAsync(privateRoom.Room, privateRoom.Event, left.UserId!, "leave");
        await JoinAsync(publicRoom.Room, publicRoom.Event, publicMember.UserId!, "join");

        (await FoundAsync(me, tag)).Should().BeEquivalentTo([me.UserId, mate.UserId, publicMember.UserId]);
        (await FoundAsync(stranger, tag)).Should().BeEquivalentTo([stranger.UserId, publicMember.UserId]);
    }

    private async Task<(long Room, long Event)> AddRoomAsync(string joinRule, string name)
    {
        var room = await ScalarAsync<long>(server, "INSERT INTO rooms (room_id, room_version, created_ts) VALUES (@r, '12', 0) RETURNING room_nid", ("r", $"!{name}:example.org"));
        var key = await ScalarAsync<long>(server, """
            INSERT INTO state_keys (event_type, state_key) VALUES ('m.room.join_rules', '')
            ON CONFLICT (event_type, state_key) DO UPDATE SET state_key = EXCLUDED.state_key RETURNING state_key_nid
            """);
        var json = "{\"type\":\"m.room.join_rules\",\"state_key\":\"\",\"content\":{\"join_rule\":\"" + joinRule + "\"}}";
        var ev = await ScalarAsync<long>(server, """
            INSERT INTO events (event_id, room_nid, event_type, state_key, state_key_nid, sender, depth, origin_server_ts, topological_ordering, json)
            VALUES (@id, @room, 'm.room.join_rules', '', @key, '@creator:example.org', 1, 0, 1, @json) RETURNING event_nid
            """, ("id", "$" + name), ("room", room), ("key", key), ("json", json));
        await ExecuteAsync(server, "INSERT INTO current_state (room_nid, state_key_nid, event_nid) VALUES (@room, @key, @ev)", ("room", room), ("key", key), ("ev", ev));
        return (room, ev);
    }

    private Task JoinAsync(long room, long ev, string userId, string membership) =>
        ExecuteAsync(server, "INSERT INTO room_memberships (room_nid, user_id, membership, event_nid, stream_ordering) VALUES (@room, @u, @m, @ev, 1)",
            ("room", room), ("u", userId), ("m", membership), ("ev", ev));
}
