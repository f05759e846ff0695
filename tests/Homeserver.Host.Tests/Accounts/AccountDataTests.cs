using System.Net;
using System.Text.Json.Nodes;
using Homeserver.Core.Streams;
using Homeserver.TestKit;
using Homeserver.Users;
using Microsoft.Extensions.DependencyInjection;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class AccountDataTests(TestServer server) : IClassFixture<TestServer>
{
    private const string Room = "!room:example.org";

    [Fact]
    public async Task Global_account_data_is_stored_read_back_and_404_when_absent()
    {
        var user = await RegisterAsync(server);
        var path = $"/_matrix/client/v3/user/{user.UserId}/account_data/org.example.settings";
        var absent = await user.GetAsync(path);
        absent.Status.Should().Be(HttpStatusCode.NotFound);
        absent.ErrCode.Should().Be("M_NOT_FOUND");

        (await user.PutAsync(path, new { theme = "dark", size = 12 })).EnsureOk();
        var read = (await user.GetAsync(path)).EnsureOk().Json;
        read.GetProperty("theme").GetString().Should().Be("dark");
        read.GetProperty("size").GetInt32().Should().Be(12);

        (await user.PutAsync(path, new { theme = "light" })).EnsureOk();
        (await user.GetAsync(path)).EnsureOk().Json.TryGetProperty("size", out _).Should().BeFalse();
    }

    [Fact]
    public async Task Room_account_data_is_separate_from_global_and_from_other_rooms()
    {
        var user = await RegisterAsync(server);
        var roomPath = $"/_matrix/client/v3/user/{user.UserId}/rooms/{Uri.EscapeDataString(Room)}/account_data/org.example.x";
        (await user.PutAsync(roomPath, new { v = 1 })).EnsureOk();
        (await user.GetAsync(roomPath)).EnsureOk().Json.GetProperty("v").GetInt32().Should().Be(1);
        (await user.GetAsync($"/_matrix/client/v3/user/{user.UserId}/account_data/org.example.x")).ErrCode.Should().Be("M_NOT_FOUND");
        var otherRoom = await user.GetAsync($"/_matrix/client/v3/user/{user.UserId}/rooms/{Uri.EscapeDataString("!other:example.org")}/account_data/org.example.x");
        otherRoom.ErrCode.Should().Be("M_NOT_FOUND");
    }

    [Fact]
    public async Task Nobody_reads_or_writes_another_users_account_data()
    {
        var user = await RegisterAsync(server);
        var other = await RegisterAsync(server);
        (await other.PutAsync($"/_matrix/client/v3/user/{other.UserId}/account_data/secret", new { s = 1 })).EnsureOk();
        foreach (var response in new[]
        {
            await user.GetAsync($"/_matrix/client/v3/user/{other.UserId}/account_data/secret"),
            await user.PutAsync($"/_matrix/client/v3/user/{other.UserId}/account_data/secret", new { s = 2 }),
            await user.GetAsync($"/_matrix/client/v3/user/{other.UserId}/rooms/{Uri.EscapeDataString(Room)}/account_data/x"),
            await user.PutAsync($"/_matrix/client/v3/user/{other.UserId}/rooms/{Uri.EscapeDataString(Room)}/account_data/x", new { }),
            await user.GetAsync($"/_matrix/client/v3/user/{other.UserId}/rooms/{Uri.EscapeDataString(Room)}/tags"),
            await user.PutAsync($"/_matrix/client/v3/user/{other.UserId}/rooms/{Uri.EscapeDataString(Room)}/tags/u.x", new { }),
        })
        {
            response.Status.Should().Be(HttpStatusCode.Forbidden);
            response.ErrCode.Should().Be("M_FORBIDDEN");
        }

        (await other.GetAsync($"/_matrix/client/v3/user/{other.UserId}/account_data/secret")).EnsureOk().Json.GetProperty("s").GetInt32().Should().Be(1);
    }

    [Theory]
    [InlineData("m.fully_read")]
    [InlineData("m.push_rules")]
    public async Task Server_controlled_types_are_405_M_BAD_JSON(string type)
    {
        var user = await RegisterAsync(server);
        var global = await user.PutAsync($"/_matrix/client/v3/user/{user.UserId}/account_data/{type}", new { });
        global.Status.Should().Be(HttpStatusCode.MethodNotAllowed);
        global.ErrCode.Should().Be("M_BAD_JSON");
        var room = await user.PutAsync($"/_matrix/client/v3/user/{user.UserId}/rooms/{Uri.EscapeDataString(Room)}/account_data/{type}", new { });
        room.Status.Should().Be(HttpStatusCode.MethodNotAllowed);
        room.ErrCode.Should().Be("M_BAD_JSON");
    }

    [Fact]
    public async Task Bodies_that_are_not_objects_and_invalid_room_ids_are_refused()
    {
        var user = await RegisterAsync(server);
        var path = $"/_matrix/client/v3/user/{user.UserId}/account_data/org.example.x";
        (await user.SendAsync(HttpMethod.Put, path, null, "[1]")).ErrCode.Should().Be("M_BAD_JSON");
        (await user.SendAsync(HttpMethod.Put, path, null, "not json")).ErrCode.Should().Be("M_NOT_JSON");
        var badRoom = await user.PutAsync($"/_matrix/client/v3/user/{user.UserId}/rooms/not-a-room/account_data/x", new { });
        badRoom.Status.Should().Be(HttpStatusCode.BadRequest);
        badRoom.ErrCode.Should().Be("M_INVALID_PARAM");
        (await user.GetAsync($"/_matrix/client/v3/user/{user.UserId}/rooms/not-a-room/account_data/x")).ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task Every_write_takes_a_new_position_in_the_global_stream_and_sync_can_read_changes_by_position()
    {
        var user = await RegisterAsync(server);
        var streams = server.Services.GetRequiredService<StreamPositions>();
        var before = streams.Current;
        (await user.PutAsync($"/_matrix/client/v3/user/{user.UserId}/account_data/a.one", new { n = 1 })).EnsureOk();
        (await user.PutAsync($"/_matrix/client/v3/user/{user.UserId}/rooms/{Uri.EscapeDataString(Room)}/account_data/a.two", new { n = 2 })).EnsureOk();
        streams.Current.Should().BeGreaterThanOrEqualTo(before + 2);

        var stored = await ScalarAsync<long>(server, "SELECT stream_id FROM account_data WHERE user_id = @u AND data_type = 'a.two'", ("u", user.UserId));
        stored.Should().BeGreaterThan(before).And.BeLessThanOrEqualTo(streams.Current);

        var changes = await server.Services.GetRequiredService<AccountDataService>().GetChangesAsync(user.UserId!, before, streams.Current, CancellationToken.None);
        changes.Select(c => (c.RoomId, c.Type)).Should().Equal(("", "a.one"), (Room, "a.two"));
        changes[0].StreamId.Should().BeLessThan(changes[1].StreamId);
        (await server.Services.GetRequiredService<AccountDataService>().GetChangesAsync(user.UserId!, changes[0].StreamId, streams.Current, CancellationToken.None))
            .Select(c => c.Type).Should().Equal("a.two");
    }

    [Fact]
    public async Task Tags_are_added_listed_and_removed_and_stored_as_m_tag_room_account_data()
    {
        var user = await RegisterAsync(server);
        var tags = $"/_matrix/client/v3/user/{user.UserId}/rooms/{Uri.EscapeDataString(Room)}/tags";
        (await user.GetAsync(tags)).EnsureOk().Json.GetProperty("tags").EnumerateObject().Should().BeEmpty();
        (await user.PutAsync(tags + "/m.favourite", new { order = 0.25 })).EnsureOk();
        (await user.PutAsync(tags + "/u.work", new { })).EnsureOk();

        var listed = (await user.GetAsync(tags)).EnsureOk().Json.GetProperty("tags");
        listed.GetProperty("m.favourite").GetProperty("order").GetDouble().Should().Be(0.25);
        listed.GetProperty("u.work").EnumerateObject().Should().BeEmpty();

        var asAccountData = (await user.GetAsync($"/_matrix/client/v3/user/{user.UserId}/rooms/{Uri.EscapeDataString(Room)}/account_data/m.tag")).EnsureOk().Json;
        asAccountData.GetProperty("tags").GetProperty("m.favourite").GetProperty("order").GetDouble().Should().Be(0.25);

        (await user.DeleteAsync(tags + "/m.favourite")).EnsureOk();
        (await user.DeleteAsync(tags + "/not.there")).EnsureOk();
        (await user.GetAsync(tags)).EnsureOk().Json.GetProperty("tags").EnumerateObject().Select(p => p.Name).Should().Equal("u.work");
    }

    [Fact]
    public async Task Concurrent_tag_writes_are_not_lost()
    {
        var user = await RegisterAsync(server);
        var tags = $"/_matrix/client/v3/user/{user.UserId}/rooms/{Uri.EscapeDataString(Room)}/tags";
        await Task.WhenAll(Enumerable.Range(0, 10).Select(i => user.PutAsync($"{tags}/u.tag{i}", new { })));
        (await user.GetAsync(tags)).EnsureOk().Json.GetProperty("tags").EnumerateObject().Should().HaveCount(10);
    }

    [Fact]
    public async Task A_tag_order_that_is_not_a_number_is_M_BAD_JSON()
    {
        var user = await RegisterAsync(server);
        var tags = $"/_matrix/client/v3/user/{user.UserId}/rooms/{Uri.EscapeDataString(Room)}/tags";
        (await user.PutAsync(tags + "/u.x", new { order = "first" })).ErrCode.Should().Be("M_BAD_JSON");
        (await user.SendAsync(HttpMethod.Put, tags + "/u.x", null, "\"x\"")).ErrCode.Should().Be("M_BAD_JSON");
        (await user.PutAsync($"/_matrix/client/v3/user/{user.UserId}/rooms/{Uri.EscapeDataString(Room)}/account_data/m.tag", new { tags = "none" })).ErrCode.Should().Be("M_BAD_JSON");
    }

    [Fact]
    public async Task The_ignored_users_list_must_have_the_spec_shape_and_is_read_by_the_service()
    {
        var user = await RegisterAsync(server);
        var path = $"/_matrix/client/v3/user/{user.UserId}/account_data/m.ignored_user_list";
        (await user.PutAsync(path, new { })).ErrCode.Should().Be("M_MISSING_PARAM");
        (await user.PutAsync(path, new { ignored_users = new[] { "@a:b" } })).ErrCode.Should().Be("M_BAD_JSON");
        (await user.PutAsync(path, new JsonObject { ["ignored_users"] = new JsonObject { ["not-a-user"] = new JsonObject() } })).ErrCode.Should().Be("M_INVALID_PARAM");
        (await user.PutAsync(path, new JsonObject { ["ignored_users"] = new JsonObject { ["@a:example.org"] = 1 } })).ErrCode.Should().Be("M_BAD_JSON");

        (await user.PutAsync(path, new JsonObject { ["ignored_users"] = new JsonObject { ["@spam:example.org"] = new JsonObject() } })).EnsureOk();
        var ignored = await server.Services.GetRequiredService<AccountDataService>().GetIgnoredUsersAsync(user.UserId!, CancellationToken.None);
        ignored.Should().BeEquivalentTo(["@spam:example.org"]);
    }
}
