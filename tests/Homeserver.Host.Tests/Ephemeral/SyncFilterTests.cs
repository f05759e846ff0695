using System.Net;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Ephemeral.SyncClient;

namespace Homeserver.Host.Tests.Ephemeral;

/// <summary>Filters as /sync applies them: by ID or inline, every field in its place, bad ones refused.</summary>
public sealed class SyncFilterTests(TestServer server) : IClassFixture<TestServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    /// <summary>Uploads a filter with POST /user/{userId}/filter and returns its ID.</summary>
    private static async Task<string> UploadFilterAsync(MatrixClient client, string json) =>
        (await client.PostAsync($"/_matrix/client/v3/user/{Uri.EscapeDataString(client.UserId!)}/filter", JsonDocument.Parse(json).RootElement))
            .EnsureOk().Json.GetProperty("filter_id").GetString()!;

    [Fact]
    public async Task A_stored_filter_is_applied_by_its_id()
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        await alice.SendTextAsync(roomId, "one");
        await alice.SendTextAsync(roomId, "two");
        var filterId = await UploadFilterAsync(alice, """{"room":{"timeline":{"limit":1}}}""");

        var sync = await alice.SyncAsync(filter: filterId);
        sync.Timeline(roomId).Should().ContainSingle().Which.Body().Should().Be("two");
        sync.JoinedRoom(roomId)!.Value.GetProperty("timeline").GetProperty("limited").GetBoolean().Should().BeTrue();
    }

    [Fact]
    public async Task Another_users_filter_id_or_an_unknown_one_is_M_INVALID_PARAM()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var bobsFilter = await UploadFilterAsync(bob, """{"room":{"timeline":{"limit":2}}}""");
        foreach (var id in new[] { bobsFilter, "404", "not-a-number" })
        {
            var response = await alice.GetAsync("/_matrix/client/v3/sync?filter=" + id);
            response.Status.Should().Be(HttpStatusCode.BadRequest);
            response.ErrCode.Should().Be("M_INVALID_PARAM");
        }
    }

    [Theory]
    [InlineData("""{"room":{"timeline":{"limit":"x"}}}""", "M_BAD_JSON")]
    [InlineData("""{"room":{"rooms":"!a:b"}}""", "M_BAD_JSON")]
    [InlineData("""{"room":""", "M_NOT_JSON")]
    [InlineData("""{"room":{"state":{"senders":["nobody"]}}}""", "M_BAD_JSON")]
    public async Task An_invalid_inline_filter_is_refused_with_a_400(string filter, string errcode)
    {
        var alice = await NewUserAsync();
        var response = await alice.GetAsync("/_matrix/client/v3/sync?filter=" + Esc(filter));
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }

    [Fact]
    public async Task A_types_filter_still_fills_the_timeline_up_to_its_limit()
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        for (var i = 0; i < 6; i++)
        {
            await alice.SendTextAsync(roomId, $"m{i}");
            (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/org.example.noise/{Guid.NewGuid():N}", new { n = i })).EnsureOk();
        }

        var sync = await alice.SyncAsync(filter: """{"room":{"timeline":{"limit":4,"types":["m.room.message"]}}}""");
        sync.Timeline(roomId).Select(e => e.Body()).Should().Equal("m2", "m3", "m4", "m5");
    }

    [Fact]
    public async Task A_types_filter_finds_the_one_matching_event_behind_a_dozen_others_and_is_not_limited()
    {
        // SyTest's "A filtered timeline reaches its limit": the only message sits behind twelve events of another
        // type and the room's own state; looking further back must reach it, and nothing more matches, so the
        // timeline is complete.
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var message = await alice.SendTextAsync(roomId, "My message");
        for (var i = 0; i < 12; i++)
        {
            (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/org.example.filler/{Guid.NewGuid():N}", new { filler = i })).EnsureOk();
        }

        var sync = await alice.SyncAsync(filter: """{"room":{"timeline":{"limit":1,"types":["m.room.message"]},"state":{"types":[]}}}""");
        sync.Timeline(roomId).Should().ContainSingle().Which.GetProperty("event_id").GetString().Should().Be(message);
        sync.JoinedRoom(roomId)!.Value.GetProperty("timeline").GetProperty("limited").GetBoolean().Should().BeFalse();
    }

    [Fact]
    public async Task Senders_contains_url_and_not_types_filter_the_timeline()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        await alice.SendTextAsync(roomId, "from alice");
        await bob.SendTextAsync(roomId, "from bob");
        await bob.SendTextAsync(roomId, "picture", new { msgtype = "m.image", body = "picture", url = "mxc://example.org/abc" });

        var notAlice = await bob.SyncAsync(filter: $$$$"""{"room":{"timeline":{"not_senders":["{{{{alice.UserId}}}}"],"types":["m.room.message"]}}}""");
        notAlice.Timeline(roomId).Select(e => e.Body()).Should().Equal("from bob", "picture");

        var withUrl = await bob.SyncAsync(filter: """{"room":{"timeline":{"contains_url":true}}}""");
        withUrl.Timeline(roomId).Select(e => e.Body()).Should().Equal("picture");

        var noMessages = await bob.SyncAsync(filter: """{"room":{"timeline":{"not_types":["m.room.mess*"]}}}""");
        noMessages.Timeline(roomId).Should().NotContain(e => e.Type() == "m.room.message");
    }

    [Fact]
    public async Task Rooms_and_not_rooms_choose_the_rooms_of_the_answer()
    {
        var alice = await NewUserAsync();
        var first = await alice.CreateRoomAsync();
        var second = await alice.CreateRoomAsync();

        var onlyFirst = await alice.SyncAsync(filter: $$$"""{"room":{"rooms":["{{{first}}}"]}}""");
        onlyFirst.JoinedRoom(first).Should().NotBeNull();
        onlyFirst.JoinedRoom(second).Should().BeNull();

        var notFirst = await alice.SyncAsync(filter: $$$"""{"room":{"not_rooms":["{{{first}}}"]}}""");
        notFirst.JoinedRoom(first).Should().BeNull();
        notFirst.JoinedRoom(second).Should().NotBeNull();
    }

    [Fact]
    public async Task The_state_filter_leaves_out_the_state_types_it_excludes()
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { name = "Named" });
        for (var i = 0; i < 3; i++)
        {
            await alice.SendTextAsync(roomId, $"push state out of the timeline {i}");
        }

        var sync = await alice.SyncAsync(filter: """{"room":{"timeline":{"limit":1},"state":{"not_types":["m.room.name","m.room.power_levels"]}}}""");
        var types = sync.State(roomId).Select(e => e.Type()).ToList();
        types.Should().Contain("m.room.create").And.NotContain("m.room.name").And.NotContain("m.room.power_levels");
    }

    [Fact]
    public async Task The_room_account_data_filter_applies_to_room_account_data()
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var eventId = await alice.SendTextAsync(roomId, "read");
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/read_markers", new Dictionary<string, string> { ["m.fully_read"] = eventId })).EnsureOk();

        var all = await alice.SyncAsync();
        all.JoinedRoom(roomId)!.Value.GetProperty("account_data").GetProperty("events").EnumerateArray().Should().Contain(e => e.Type() == "m.fully_read");
        var none = await alice.SyncAsync(filter: """{"room":{"account_data":{"not_types":["m.fully_read"]}}}""");
        none.JoinedRoom(roomId)!.Value.GetProperty("account_data").GetProperty("events").EnumerateArray().Should().BeEmpty();
    }

    [Fact]
    public async Task Event_fields_keep_only_the_listed_paths_and_a_backslash_escapes_a_dot()
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { name = "Fields" });
        var content = new Dictionary<string, object>
        {
            ["msgtype"] = "m.text",
            ["body"] = "fields",
            ["org.example.key"] = "dotted",
            ["org"] = new { example = new { key = "nested", other = 1 } },
            ["back\\slash"] = "b",
        };
        await alice.SendTextAsync(roomId, "fields", content);

        // content.org\.example\.key is the key "org.example.key"; content.org.example.key walks into nested objects.
        var escaped = await alice.SyncAsync(filter: """{"event_fields":["type","content.body","content.org\\.example\\.key"],"room":{"timeline":{"limit":1}}}""");
        var message = escaped.Timeline(roomId).Should().ContainSingle().Which;
        message.EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo(["type", "content"]);
        message.Type().Should().Be("m.room.message");
        message.GetProperty("content").GetRawText().Should().Be("""{"body":"fields","org.example.key":"dotted"}""");
        var state = escaped.State(roomId);
        state.Should().Contain(e => e.Type() == "m.room.name", "event_fields shape the state events too");
        state.Should().OnlyContain(e => e.EnumerateObject().All(p => p.Name == "type" || p.Name == "content"));
        state.Single(e => e.Type() == "m.room.name").GetProperty("content").EnumerateObject().Should().BeEmpty("the name event has no body");

        var nested = await alice.SyncAsync(filter: """{"event_fields":["content.org.example.key","content.back\\\\slash","content.missing.deeper"],"room":{"timeline":{"limit":1}}}""");
        var shaped = nested.Timeline(roomId).Should().ContainSingle().Which;
        shaped.EnumerateObject().Select(p => p.Name).Should().Equal("content");
        shaped.GetProperty("content").GetRawText().Should().Be("""{"org":{"example":{"key":"nested"}},"back\\slash":"b"}""");

        var all = await alice.SyncAsync(filter: """{"room":{"timeline":{"limit":1}}}""");
        all.Timeline(roomId).Single().EnumerateObject().Select(p => p.Name).Should().Contain(["event_id", "sender", "origin_server_ts", "unsigned"]);
    }

    [Fact]
    public async Task Event_format_federation_gives_the_events_as_servers_exchange_them()
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { name = "Federated", room_version = "12" });
        var kept = await alice.SendTextAsync(roomId, "kept");
        var redacted = await alice.SendTextAsync(roomId, "redacted soon");
        var redaction = (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/redact/{Esc(redacted)}/{Guid.NewGuid():N}", new { reason = "oops" }))
            .EnsureOk().Json.GetProperty("event_id").GetString();

        var sync = await alice.SyncAsync(filter: """{"event_format":"federation","room":{"timeline":{"limit":3}}}""");
        var timeline = sync.Timeline(roomId);
        var message = timeline.Single(e => e.GetProperty("event_id").GetString() == kept);
        message.GetProperty("room_id").GetString().Should().Be(roomId);
        message.GetProperty("sender").GetString().Should().Be(alice.UserId);
        message.GetProperty("depth").GetInt64().Should().BePositive();
        message.GetProperty("auth_events").EnumerateArray().Should().NotBeEmpty();
        message.GetProperty("prev_events").EnumerateArray().Should().ContainSingle();
        message.GetProperty("hashes").GetProperty("sha256").GetString().Should().NotBeNullOrEmpty();
        message.GetProperty("signatures").TryGetProperty(server.ServerName, out _).Should().BeTrue();
        (await OurSignature.VerifiesAsync(server, OurSignature.WithoutEventId(message), RoomVersion.V12)).Should().BeTrue("our events are signed as they leave");
        message.Body().Should().Be("kept");
        message.GetProperty("unsigned").GetProperty("age").GetInt64().Should().BeGreaterThanOrEqualTo(0);
        message.GetProperty("unsigned").TryGetProperty("transaction_id", out _).Should().BeTrue("the sending device still sees its transaction ID");

        // A redacted event is the redacted PDU: its content is gone, its hashes stay; the redaction comes in the same form.
        var gone = timeline.Single(e => e.GetProperty("event_id").GetString() == redacted);
        gone.GetProperty("content").EnumerateObject().Should().BeEmpty();
        gone.GetRawText().Should().NotContain("redacted soon");
        gone.GetProperty("hashes").GetProperty("sha256").GetString().Should().NotBeNullOrEmpty();
        var because = gone.GetProperty("unsigned").GetProperty("redacted_because");
        because.GetProperty("event_id").GetString().Should().Be(redaction);
        because.GetProperty("auth_events").EnumerateArray().Should().NotBeEmpty();
        (await OurSignature.VerifiesAsync(server, OurSignature.WithoutEventId(gone), RoomVersion.V12)).Should().BeTrue("a redacted event keeps its signature");
        (await OurSignature.VerifiesAsync(server, OurSignature.WithoutEventId(because), RoomVersion.V12)).Should().BeTrue();

        // (A v12 m.room.create has no room_id: the PDU is shown as it is.)
        var state = sync.State(roomId);
        state.Should().Contain(e => e.Type() == "m.room.name");
        state.Should().OnlyContain(e => e.GetProperty("auth_events").ValueKind == JsonValueKind.Array && e.GetProperty("depth").ValueKind == JsonValueKind.Number);
        state.Where(e => e.Type() != "m.room.create").Should().OnlyContain(e => e.GetProperty("room_id").GetString() == roomId);
        state.Single(e => e.Type() == "m.room.create").TryGetProperty("room_id", out _).Should().BeFalse();

        // Fields are picked from the federation form; and the client form (the default) has none of its protocol fields.
        var picked = await alice.SyncAsync(filter: """{"event_format":"federation","event_fields":["depth","content.body"],"room":{"timeline":{"limit":2,"types":["m.room.message"]}}}""");
        var pickedKept = picked.Timeline(roomId)[0];
        pickedKept.EnumerateObject().Select(p => p.Name).Should().Equal("depth", "content");
        pickedKept.GetProperty("depth").GetInt64().Should().Be(message.GetProperty("depth").GetInt64());
        pickedKept.GetProperty("content").GetRawText().Should().Be("""{"body":"kept"}""");
        var client = (await alice.SyncAsync(filter: """{"room":{"timeline":{"limit":3}}}""")).Timeline(roomId).Single(e => e.GetProperty("event_id").GetString() == kept);
        client.TryGetProperty("auth_events", out _).Should().BeFalse();
        client.TryGetProperty("depth", out _).Should().BeFalse();
        client.TryGetProperty("room_id", out _).Should().BeFalse();
    }

    [Fact]
    public async Task The_from_parameter_of_the_old_event_stream_is_refused_on_sync()
    {
        var alice = await NewUserAsync();
        var response = await alice.GetAsync("/_matrix/client/v3/sync?from=s1_0_0");
        response.Status.Should().Be(HttpStatusCode.BadRequest);
    }
}
