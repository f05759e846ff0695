using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.TestKit;
using Npgsql;
using static Homeserver.Host.Tests.Ephemeral.SyncClient;

namespace Homeserver.Host.Tests.Ephemeral;

/// <summary>Simplified sliding sync (MSC4186) over raw HTTP, in the shapes Element X sends.</summary>
public sealed class SlidingSyncTests(TestServer server) : IClassFixture<TestServer>
{
    private const string Path = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    private static JsonObject List(int start, int end, int timelineLimit = 1, JsonNode? requiredState = null, JsonObject? filters = null)
    {
        var list = new JsonObject
        {
            ["ranges"] = new JsonArray(new JsonArray(start, end)),
            ["timeline_limit"] = timelineLimit,
            ["required_state"] = requiredState ?? new JsonArray(new JsonArray("m.room.create", "")),
        };
        if (filters is not null)
        {
            list["filters"] = filters;
        }

        return list;
    }

    private static async Task<JsonElement> SlidingAsync(MatrixClient client, JsonObject body, string? pos = null, int timeout = 0)
    {
        var url = Path + "?timeout=" + timeout + (pos is null ? string.Empty : "&pos=" + Esc(pos));
        return (await client.PostAsync(url, body)).EnsureOk().Json;
    }

    private static string Pos(JsonElement response) => response.GetProperty("pos").GetString()!;

    private static JsonElement Room(JsonElement response, string roomId) => response.GetProperty("rooms").GetProperty(roomId);

    private static bool HasRoom(JsonElement response, string roomId) => response.GetProperty("rooms").TryGetProperty(roomId, out _);

    private static IReadOnlyList<JsonElement> Timeline(JsonElement room) =>
        room.TryGetProperty("timeline", out var t) ? t.EnumerateArray().ToList() : [];

    private static IReadOnlyList<JsonElement> RequiredState(JsonElement room) =>
        room.TryGetProperty("required_state", out var t) ? t.EnumerateArray().ToList() : [];

    private async Task WriteAccountDataAsync(string userId, string roomId, string type, string content)
    {
        // The accounts module's account-data API is on another branch: write the row it would write.
        await using var conn = new NpgsqlConnection(server.Database.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("INSERT INTO account_data (user_id, room_id, data_type, content, stream_id) VALUES ($1, $2, $3, $4, 1)", conn);
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(roomId);
        cmd.Parameters.AddWithValue(type);
        cmd.Parameters.AddWithValue(content);
        await cmd.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task Versions_advertises_simplified_sliding_sync()
    {
        var versions = (await new MatrixClient(server.Client).GetAsync("/_matrix/client/versions")).EnsureOk().Json;
        versions.GetProperty("unstable_features").GetProperty("org.matrix.simplified_msc3575").GetBoolean().Should().BeTrue();
    }

    [Fact]
    public async Task A_list_orders_rooms_by_recency_and_follows_a_new_message()
    {
        var alice = await NewUserAsync();
        var a = await alice.CreateRoomAsync(new { name = "A" });
        var b = await alice.CreateRoomAsync(new { name = "B" });
        var c = await alice.CreateRoomAsync(new { name = "C" });
        await alice.SendTextAsync(a, "A is the most recent");

        var body = new JsonObject { ["lists"] = new JsonObject { ["all"] = List(0, 1) } };
        var first = await SlidingAsync(alice, body);
        first.GetProperty("lists").GetProperty("all").GetProperty("count").GetInt32().Should().Be(3);
        first.GetProperty("rooms").EnumerateObject().Select(r => r.Name).Should().BeEquivalentTo([a, c]);
        var roomA = Room(first, a);
        roomA.GetProperty("initial").GetBoolean().Should().BeTrue();
        roomA.GetProperty("name").GetString().Should().Be("A");
        roomA.GetProperty("membership").GetString().Should().Be("join");
        Timeline(roomA).Should().ContainSingle().Which.Body().Should().Be("A is the most recent");
        roomA.GetProperty("limited").GetBoolean().Should().BeTrue();
        roomA.GetProperty("joined_count").GetInt32().Should().Be(1);
        RequiredState(roomA).Should().ContainSingle().Which.Type().Should().Be("m.room.create");
        roomA.GetProperty("bump_stamp").GetInt64().Should().BeGreaterThan(Room(first, c).GetProperty("bump_stamp").GetInt64());

        // B gets a message: it moves into the range and is sent from scratch; nothing else changed.
        var wait = SlidingAsync(alice, (JsonObject)body.DeepClone(), Pos(first), timeout: 20_000);
        await Task.Delay(300);
        wait.IsCompleted.Should().BeFalse("nothing has happened yet");
        await alice.SendTextAsync(b, "B wakes up");
        var second = await wait;
        HasRoom(second, b).Should().BeTrue();
        Room(second, b).GetProperty("initial").GetBoolean().Should().BeTrue();
        Timeline(Room(second, b)).Single().Body().Should().Be("B wakes up");
        HasRoom(second, a).Should().BeFalse();

        // A new message in a room already sent: only the new event, live.
        await alice.SendTextAsync(a, "follow-up");
        var third = await SlidingAsync(alice, (JsonObject)body.DeepClone(), Pos(second), timeout: 10_000);
        var updated = Room(third, a);
        updated.TryGetProperty("initial", out _).Should().BeFalse();
        updated.TryGetProperty("name", out _).Should().BeFalse("the name did not change");
        Timeline(updated).Select(e => e.Body()).Should().Equal("follow-up");
        updated.GetProperty("num_live").GetInt32().Should().Be(1);
        updated.GetProperty("limited").GetBoolean().Should().BeFalse();
    }

    [Fact]
    public async Task A_long_poll_with_nothing_new_returns_after_its_timeout_with_no_rooms()
    {
        var alice = await NewUserAsync();
        await alice.CreateRoomAsync();
        var body = new JsonObject { ["lists"] = new JsonObject { ["all"] = List(0, 10) } };
        var first = await SlidingAsync(alice, body);
        var watch = Stopwatch.StartNew();
        var second = await SlidingAsync(alice, (JsonObject)body.DeepClone(), Pos(first), timeout: 600);
        watch.Elapsed.Should().BeGreaterThan(TimeSpan.FromMilliseconds(500));
        second.GetProperty("rooms").EnumerateObject().Should().BeEmpty();
        second.GetProperty("lists").GetProperty("all").GetProperty("count").GetInt32().Should().Be(1);

        // The old pos still works (a retry), then the new one; once the new one is used, the old one is forgotten.
        (await alice.PostAsync(Path + "?pos=" + Esc(Pos(first)), body)).EnsureOk();
        (await alice.PostAsync(Path + "?pos=" + Esc(Pos(second)), body)).EnsureOk();
        (await alice.PostAsync(Path + "?pos=" + Esc(Pos(first)), body)).ErrCode.Should().Be("M_UNKNOWN_POS");
    }

    [Fact]
    public async Task An_unknown_pos_is_M_UNKNOWN_POS_and_a_malformed_one_M_INVALID_PARAM()
    {
        var alice = await NewUserAsync();
        var unknown = await alice.PostAsync(Path + "?pos=" + Esc("99/s1_1_1"), new { lists = new { } });
        unknown.Status.Should().Be(HttpStatusCode.BadRequest);
        unknown.ErrCode.Should().Be("M_UNKNOWN_POS");
        (await alice.PostAsync(Path + "?pos=garbage", new { })).ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task Required_state_understands_wildcards_me_and_lazy_members()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var carol = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat", name = "Lazy" });
        await bob.JoinAsync(roomId);
        await carol.JoinAsync(roomId);
        await bob.SendTextAsync(roomId, "bob speaks");

        var lazy = new JsonArray(new JsonArray("*", "*"), new JsonArray("m.room.member", "$LAZY"), new JsonArray("m.room.member", "$ME"));
        var response = await SlidingAsync(alice, new JsonObject { ["lists"] = new JsonObject { ["all"] = List(0, 0, 1, lazy) } });
        var state = RequiredState(Room(response, roomId));
        state.Select(e => e.Type()).Should().Contain(["m.room.create", "m.room.name", "m.room.power_levels", "m.room.join_rules"]);
        var members = state.Where(e => e.Type() == "m.room.member").Select(e => e.StateKey()).ToList();
        members.Should().Contain(bob.UserId!, "bob sent the timeline's event").And.Contain(alice.UserId!, "$ME asks for it");
        members.Should().NotContain(carol.UserId!, "carol is lazy-loaded and said nothing");

        var everything = await SlidingAsync(alice, new JsonObject { ["lists"] = new JsonObject { ["all"] = List(0, 0, 1, new JsonArray(new JsonArray("m.room.member", "*"))) } });
        RequiredState(Room(everything, roomId)).Select(e => e.StateKey()).Should().Contain([alice.UserId, bob.UserId, carol.UserId]);
    }

    [Fact]
    public async Task Lazy_members_already_sent_on_the_connection_are_not_sent_again()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat", name = "Chat" });
        await bob.JoinAsync(roomId);
        await bob.SendTextAsync(roomId, "one");
        var lazy = new JsonArray(new JsonArray("m.room.member", "$LAZY"));
        var body = new JsonObject { ["lists"] = new JsonObject { ["all"] = List(0, 0, 1, lazy) } };
        var first = await SlidingAsync(alice, body);
        RequiredState(Room(first, roomId)).Select(e => e.StateKey()).Should().Contain(bob.UserId);

        await bob.SendTextAsync(roomId, "two");
        var second = await SlidingAsync(alice, (JsonObject)body.DeepClone(), Pos(first), timeout: 10_000);
        RequiredState(Room(second, roomId)).Should().BeEmpty("bob's membership was already sent on this connection");
    }

    [Fact]
    public async Task A_room_subscription_sends_a_room_outside_the_ranges_and_ignores_rooms_the_user_cannot_see()
    {
        var alice = await NewUserAsync();
        var mallory = await NewUserAsync();
        var old = await alice.CreateRoomAsync(new { name = "Old" });
        await alice.CreateRoomAsync(new { name = "Newer" });
        var secret = await mallory.CreateRoomAsync(new { name = "Not for alice" });

        var body = new JsonObject
        {
            ["lists"] = new JsonObject { ["top"] = List(0, 0) },
            ["room_subscriptions"] = new JsonObject
            {
                [old] = new JsonObject { ["timeline_limit"] = 5, ["required_state"] = new JsonArray(new JsonArray("*", "*")) },
                [secret] = new JsonObject { ["timeline_limit"] = 5, ["required_state"] = new JsonArray(new JsonArray("*", "*")) },
            },
        };
        var response = await SlidingAsync(alice, body);
        var room = Room(response, old);
        Timeline(room).Should().HaveCount(5);
        room.TryGetProperty("lists", out _).Should().BeFalse("it is only there by subscription");
        HasRoom(response, secret).Should().BeFalse();
        response.GetRawText().Should().NotContain("Not for alice");
    }

    [Fact]
    public async Task Increasing_the_timeline_limit_sends_older_events_as_an_expanded_timeline()
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { name = "History" });
        for (var i = 0; i < 5; i++)
        {
            await alice.SendTextAsync(roomId, $"m{i}");
        }

        var first = await SlidingAsync(alice, new JsonObject { ["lists"] = new JsonObject { ["all"] = List(0, 0, timelineLimit: 1) } });
        Timeline(Room(first, roomId)).Single().Body().Should().Be("m4");
        var second = await SlidingAsync(alice, new JsonObject { ["lists"] = new JsonObject { ["all"] = List(0, 0, timelineLimit: 3) } }, Pos(first), timeout: 5000);
        var room = Room(second, roomId);
        room.GetProperty("expanded_timeline").GetBoolean().Should().BeTrue();
        Timeline(room).Select(e => e.Body()).Should().Equal("m2", "m3", "m4");
    }

    [Fact]
    public async Task List_filters_select_invites_encrypted_rooms_room_types_spaces_and_dms()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var plain = await alice.CreateRoomAsync(new { name = "plain" });
        var encrypted = await alice.CreateRoomAsync(new
        {
            name = "encrypted",
            initial_state = new[] { new { type = "m.room.encryption", state_key = "", content = new { algorithm = "m.megolm.v1.aes-sha2" } } },
        });
        var space = await alice.CreateRoomAsync(new { name = "space", creation_content = new { type = "m.space" } });
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(space)}/state/m.space.child/{Esc(plain)}", new { via = new[] { server.ServerName } })).EnsureOk();
        var invite = await bob.CreateRoomAsync(new { name = "invitation", invite = new[] { alice.UserId } });
        await WriteAccountDataAsync(alice.UserId!, string.Empty, "m.direct", $$$"""{"{{{bob.UserId}}}":["{{{encrypted}}}"]}""");

        async Task<List<string>> RoomsOf(JsonObject filters)
        {
            var r = await SlidingAsync(alice, new JsonObject { ["lists"] = new JsonObject { ["l"] = List(0, 20, filters: filters) } });
            return r.GetProperty("rooms").EnumerateObject().Select(x => x.Name).ToList();
        }

        (await RoomsOf(new JsonObject { ["is_invite"] = true })).Should().Equal(invite);
        (await RoomsOf(new JsonObject { ["is_invite"] = false })).Should().NotContain(invite);
        (await RoomsOf(new JsonObject { ["is_encrypted"] = true })).Should().Equal(encrypted);
        (await RoomsOf(new JsonObject { ["room_types"] = new JsonArray("m.space") })).Should().Equal(space);
        (await RoomsOf(new JsonObject { ["not_room_types"] = new JsonArray("m.space") })).Should().NotContain(space).And.Contain(plain);
        (await RoomsOf(new JsonObject { ["room_types"] = new JsonArray((JsonNode?)null) })).Should().NotContain(space).And.Contain(plain);
        (await RoomsOf(new JsonObject { ["spaces"] = new JsonArray(space) })).Should().Equal(plain);
        (await RoomsOf(new JsonObject { ["is_dm"] = true })).Should().Equal(encrypted);
        (await RoomsOf(new JsonObject { ["is_dm"] = false })).Should().NotContain(encrypted);

        var withInvite = await SlidingAsync(alice, new JsonObject { ["lists"] = new JsonObject { ["l"] = List(0, 20, filters: new JsonObject { ["is_invite"] = true }) } });
        var invited = Room(withInvite, invite);
        invited.GetProperty("membership").GetString().Should().Be("invite");
        invited.GetProperty("invite_state").EnumerateArray().Should().Contain(e => e.Type() == "m.room.name");
        invited.TryGetProperty("timeline", out _).Should().BeFalse();
    }

    [Fact]
    public async Task An_unnamed_room_has_heroes_with_their_profiles()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var response = await SlidingAsync(alice, new JsonObject { ["lists"] = new JsonObject { ["all"] = List(0, 0) } });
        var room = Room(response, roomId);
        room.TryGetProperty("name", out _).Should().BeFalse();
        room.GetProperty("heroes").EnumerateArray().Select(h => h.GetProperty("user_id").GetString()).Should().Equal(bob.UserId);
        room.GetProperty("joined_count").GetInt32().Should().Be(2);
    }

    /// <summary>An extension's entry for one room in a sliding sync answer, if it has one.</summary>
    private static JsonElement? RoomOf(JsonElement extensions, string extension, string roomId) =>
        extensions.TryGetProperty(extension, out var e) && e.TryGetProperty("rooms", out var rooms) && rooms.ValueKind == JsonValueKind.Object
            && rooms.TryGetProperty(roomId, out var room)
            ? room.Clone()
            : null;

    [Fact]
    public async Task The_typing_receipts_and_account_data_extensions_report_changes_in_covered_rooms()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat", name = "Extensions" });
        await bob.JoinAsync(roomId);
        var eventId = await alice.SendTextAsync(roomId, "please read");
        var body = new JsonObject
        {
            ["lists"] = new JsonObject { ["all"] = List(0, 5) },
            ["extensions"] = new JsonObject
            {
                ["typing"] = new JsonObject { ["enabled"] = true },
                ["receipts"] = new JsonObject { ["enabled"] = true },
                ["account_data"] = new JsonObject { ["enabled"] = true },
                ["org.example.unknown"] = new JsonObject { ["enabled"] = true },
            },
        };
        var first = await SlidingAsync(alice, body);
        first.GetProperty("extensions").TryGetProperty("org.example.unknown", out _).Should().BeFalse();

        (await bob.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/typing/{Esc(bob.UserId!)}", new { typing = true, timeout = 30000 })).EnsureOk();
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/receipt/m.read/{Esc(eventId)}", new { })).EnsureOk();
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/receipt/m.read.private/{Esc(eventId)}", new { })).EnsureOk();
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/read_markers", new Dictionary<string, string> { ["m.fully_read"] = eventId })).EnsureOk();

        // Typing wakes the poll at once; the receipts and the marker may land in the next answer (their stream
        // position becomes readable when every earlier write, such as bob's presence, has committed), so the test
        // follows the connection for a few answers, as a client does.
        JsonElement? typing = null, receipt = null, accountData = null;
        var pos = Pos(first);
        for (var i = 0; i < 10 && (typing is null || receipt is null || accountData is null); i++)
        {
            var next = await SlidingAsync(alice, (JsonObject)body.DeepClone(), pos, timeout: 2000);
            pos = Pos(next);
            var extensions = next.GetProperty("extensions");
            typing ??= RoomOf(extensions, "typing", roomId);
            if (RoomOf(extensions, "receipts", roomId) is { } r && r.GetProperty("content").TryGetProperty(eventId, out var forEvent))
            {
                receipt ??= forEvent.Clone();
            }

            accountData ??= RoomOf(extensions, "account_data", roomId);
        }

        typing.Should().NotBeNull();
        typing!.Value.GetProperty("content").GetProperty("user_ids").EnumerateArray().Select(u => u.GetString()).Should().Equal(bob.UserId);
        receipt.Should().NotBeNull();
        receipt!.Value.GetProperty("m.read").TryGetProperty(bob.UserId!, out _).Should().BeTrue();
        receipt.Value.TryGetProperty("m.read.private", out _).Should().BeFalse("bob's private receipt is his alone");
        accountData.Should().NotBeNull();
        accountData!.Value.EnumerateArray().Should().ContainSingle(e => e.Type() == "m.fully_read");
    }

    [Fact]
    public async Task An_invite_then_a_join_sends_the_room_again_from_scratch()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await bob.CreateRoomAsync(new { name = "Invited", invite = new[] { alice.UserId } });
        await bob.SendTextAsync(roomId, "welcome");
        var body = new JsonObject { ["lists"] = new JsonObject { ["all"] = List(0, 5, 2, new JsonArray(new JsonArray("*", "*"))) } };
        var first = await SlidingAsync(alice, body);
        Room(first, roomId).GetProperty("membership").GetString().Should().Be("invite");
        Room(first, roomId).TryGetProperty("required_state", out _).Should().BeFalse("an invitee sees stripped state only");

        await alice.JoinAsync(roomId);
        var second = await SlidingAsync(alice, (JsonObject)body.DeepClone(), Pos(first), timeout: 5000);
        var joined = Room(second, roomId);
        joined.GetProperty("membership").GetString().Should().Be("join");
        joined.GetProperty("initial").GetBoolean().Should().BeTrue();
        RequiredState(joined).Select(e => e.Type()).Should().Contain(["m.room.create", "m.room.name", "m.room.power_levels"]);
        joined.GetProperty("name").GetString().Should().Be("Invited");
    }

    [Fact]
    public async Task An_ignored_users_messages_and_invites_are_left_out_and_their_messages_alone_send_nothing()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var carol = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob, carol);
        await SetIgnoredUsersAsync(server, alice.UserId!, bob.UserId!);
        await bob.SendTextAsync(roomId, "bob 1");
        await carol.SendTextAsync(roomId, "carol 1");
        await bob.SendTextAsync(roomId, "bob 2");
        var fromBob = await bob.CreateRoomAsync(new { name = "Bob's invitation", invite = new[] { alice.UserId } });
        var fromCarol = await carol.CreateRoomAsync(new { name = "Carol's invitation", invite = new[] { alice.UserId } });

        var body = new JsonObject { ["lists"] = new JsonObject { ["all"] = List(0, 10, timelineLimit: 3, requiredState: new JsonArray()) } };
        var first = await SlidingAsync(alice, body);
        first.GetProperty("lists").GetProperty("all").GetProperty("count").GetInt32().Should().Be(2);
        HasRoom(first, fromCarol).Should().BeTrue();
        HasRoom(first, fromBob).Should().BeFalse();
        first.GetRawText().Should().NotContain("Bob's invitation");
        var timeline = Timeline(Room(first, roomId));
        timeline.Where(e => e.Type() == "m.room.message").Select(e => e.Body()).Should().Equal("carol 1");
        timeline.Should().HaveCount(3, "the timeline is filled from before bob's messages");

        // Only bob speaks: nothing to send, so the long-poll runs to its end without the room.
        await bob.SendTextAsync(roomId, "bob 3");
        var watch = Stopwatch.StartNew();
        var second = await SlidingAsync(alice, (JsonObject)body.DeepClone(), Pos(first), timeout: 1000);
        watch.Elapsed.Should().BeGreaterThan(TimeSpan.FromMilliseconds(900));
        HasRoom(second, roomId).Should().BeFalse();

        await carol.SendTextAsync(roomId, "carol 2");
        var third = await SlidingAsync(alice, (JsonObject)body.DeepClone(), Pos(second), timeout: 5000);
        Timeline(Room(third, roomId)).Select(e => e.Body()).Should().Equal("carol 2");
    }

    [Theory]
    [InlineData("""{"lists": []}""", "M_BAD_JSON")]
    [InlineData("""{"lists": {"a": {"ranges": [[5, 1]], "timeline_limit": 1, "required_state": []}}}""", "M_BAD_JSON")]
    [InlineData("""{"lists": {"a": {"ranges": [[0, -1]], "timeline_limit": 1, "required_state": []}}}""", "M_BAD_JSON")]
    [InlineData("""{"lists": {"a": {"ranges": [[0, 1]], "timeline_limit": 100000, "required_state": []}}}""", "M_BAD_JSON")]
    [InlineData("""{"lists": {"a": {"ranges": [[0, 1]], "timeline_limit": 1, "required_state": [["only one"]]}}}""", "M_BAD_JSON")]
    [InlineData("""{"lists": {"a": {"ranges": [[0, 1]], "timeline_limit": 1, "required_state": [], "filters": {"is_dm": "yes"}}}}""", "M_BAD_JSON")]
    [InlineData("""{"room_subscriptions": {"!a:b": 5}}""", "M_BAD_JSON")]
    [InlineData("""{"extensions": {"typing": true}}""", "M_BAD_JSON")]
    [InlineData("""{"set_presence": "dancing"}""", "M_INVALID_PARAM")]
    [InlineData("""[1, 2]""", "M_BAD_JSON")]
    [InlineData("""{not json""", "M_NOT_JSON")]
    public async Task A_malformed_request_is_a_400_with_a_precise_code(string body, string errcode)
    {
        var alice = await NewUserAsync();
        var response = await alice.SendAsync(HttpMethod.Post, Path, null, body);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }
}
