using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.RoomTestHelpers;

namespace Homeserver.Host.Tests;

public sealed class RelationTests(TestServer server) : IClassFixture<TestServer>
{
    private static JsonObject EditContent(string target, string body) => new()
    {
        ["msgtype"] = "m.text",
        ["body"] = "* " + body,
        ["m.new_content"] = new JsonObject { ["msgtype"] = "m.text", ["body"] = body },
        ["m.relates_to"] = new JsonObject { ["rel_type"] = "m.replace", ["event_id"] = target },
    };

    private static JsonObject Related(string relType, string target, string body, string? key = null)
    {
        var relatesTo = new JsonObject { ["rel_type"] = relType, ["event_id"] = target };
        if (key is not null)
        {
            relatesTo["key"] = key;
            return new JsonObject { ["m.relates_to"] = relatesTo };
        }

        return new JsonObject { ["msgtype"] = "m.text", ["body"] = body, ["m.relates_to"] = relatesTo };
    }

    [Fact]
    public async Task Context_returns_events_around_one_with_tokens_that_continue_without_gaps()
    {
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var sent = new List<string>();
        for (var i = 0; i < 9; i++)
        {
            sent.Add(await alice.SayAsync(roomId, $"m{i}"));
        }

        var context = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/context/{Esc(sent[4])}?limit=4")).EnsureOk().Json;
        context.GetProperty("event").GetProperty("event_id").GetString().Should().Be(sent[4]);
        context.GetProperty("events_before").Ids().Should().Equal(sent[3], sent[2]);
        context.GetProperty("events_after").Ids().Should().Equal(sent[5], sent[6]);
        context.GetProperty("state").EnumerateArray().Select(e => e.GetProperty("type").GetString()).Should().Contain(["m.room.create", "m.room.member"]);

        var back = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&limit=2&from={Esc(context.GetProperty("start").GetString()!)}")).EnsureOk().Json;
        back.GetProperty("chunk").Ids().Should().Equal(sent[1], sent[0]);
        var forward = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=f&limit=5&from={Esc(context.GetProperty("end").GetString()!)}")).EnsureOk().Json;
        forward.GetProperty("chunk").Ids().Should().Equal(sent[7], sent[8]);

        var filtered = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/context/{Esc(sent[4])}?limit=20&filter={Esc("""{"types":["m.room.member"],"lazy_load_members":true}""")}")).EnsureOk().Json;
        filtered.GetProperty("events_after").EnumerateArray().Should().BeEmpty();
        filtered.GetProperty("events_before").EnumerateArray().Select(e => e.GetProperty("type").GetString()).Should().OnlyContain(t => t == "m.room.member");
        filtered.GetProperty("state").EnumerateArray().Where(e => e.GetProperty("type").GetString() == "m.room.member")
            .Select(e => e.GetProperty("state_key").GetString()).Should().Equal(alice.UserId);
    }

    [Fact]
    public async Task Context_of_an_event_the_user_cannot_see_is_404_and_bad_filters_are_400()
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat", initial_state = new[] { new { type = "m.room.history_visibility", state_key = "", content = new { history_visibility = "joined" } } } });
        var secret = await alice.SayAsync(roomId, "before bob");
        await bob.JoinAsync(roomId);

        var hidden = await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/context/{Esc(secret)}");
        hidden.Status.Should().Be(HttpStatusCode.NotFound);
        hidden.ErrCode.Should().Be("M_NOT_FOUND");
        (await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/context/{Esc("$nope")}")).Status.Should().Be(HttpStatusCode.NotFound);
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/context/{Esc(secret)}?filter=notjson")).ErrCode.Should().Be("M_NOT_JSON");
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/context/{Esc(secret)}?filter={Esc("""{"types":"x"}""")}")).ErrCode.Should().Be("M_BAD_JSON");
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/context/{Esc(secret)}?limit=x")).ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task Context_for_someone_never_in_a_private_room_is_403_and_for_anyone_in_a_world_readable_one_200()
    {
        // As /messages and Synapse: a stranger is refused the room (403), whichever event they ask about.
        var alice = await server.NewUserAsync();
        var stranger = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var said = await alice.SayAsync(roomId, "private");
        var refused = await stranger.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/context/{Esc(said)}");
        refused.Status.Should().Be(HttpStatusCode.Forbidden);
        refused.ErrCode.Should().Be("M_FORBIDDEN");
        (await stranger.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/context/{Esc("$nope")}")).Status.Should().Be(HttpStatusCode.Forbidden);

        var open = await alice.CreateRoomAsync(new { initial_state = new[] { new { type = "m.room.history_visibility", state_key = "", content = new { history_visibility = "world_readable" } } } });
        var shown = await alice.SayAsync(open, "for all");
        (await stranger.GetAsync($"/_matrix/client/v3/rooms/{Esc(open)}/context/{Esc(shown)}")).EnsureOk()
            .Json.GetProperty("event").GetProperty("event_id").GetString().Should().Be(shown);
    }

    [Fact]
    public async Task Relations_are_listed_by_type_with_pagination_and_recursion()
    {
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var root = await alice.SayAsync(roomId, "root");
        var reactions = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            reactions.Add(await alice.SendAsync(roomId, Related("m.annotation", root, "", $"k{i}"), "m.reaction"));
        }

        var reference = await alice.SendAsync(roomId, Related("m.reference", root, "ref"));
        var nested = await alice.SendAsync(roomId, Related("m.annotation", reference, "", "deep"), "m.reaction");
        var basePath = $"/_matrix/client/v1/rooms/{Esc(roomId)}/relations/{Esc(root)}";

        var all = (await alice.GetAsync(basePath + "?limit=10")).EnsureOk().Json;
        all.GetProperty("chunk").Ids().Should().Equal(reference, reactions[2], reactions[1], reactions[0]);
        all.TryGetProperty("next_batch", out _).Should().BeFalse();

        var first = (await alice.GetAsync(basePath + "/m.annotation/m.reaction?limit=2")).EnsureOk().Json;
        first.GetProperty("chunk").Ids().Should().Equal(reactions[2], reactions[1]);
        var second = (await alice.GetAsync(basePath + $"/m.annotation/m.reaction?limit=2&from={Esc(first.GetProperty("next_batch").GetString()!)}")).EnsureOk().Json;
        second.GetProperty("chunk").Ids().Should().Equal(reactions[0]);

        var forwards = (await alice.GetAsync(basePath + "/m.annotation?dir=f")).EnsureOk().Json;
        forwards.GetProperty("chunk").Ids().Should().Equal(reactions);

        var recursive = (await alice.GetAsync(basePath + "?recurse=true")).EnsureOk().Json;
        recursive.GetProperty("chunk").Ids().Should().Contain(nested);
        recursive.GetProperty("recursion_depth").GetInt32().Should().Be(3);

        (await alice.GetAsync(basePath + "?dir=x")).ErrCode.Should().Be("M_INVALID_PARAM");
        (await alice.GetAsync(basePath + "?from=zzz")).ErrCode.Should().Be("M_INVALID_PARAM");
        var stranger = await server.NewUserAsync();
        (await stranger.GetAsync(basePath)).Status.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Edits_threads_and_references_are_bundled_where_events_are_served()
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat" });
        await bob.JoinAsync(roomId);
        var original = await alice.SayAsync(roomId, "helo");
        await alice.SendAsync(roomId, EditContent(original, "hello?"));
        await Task.Delay(10); // edits are ordered by origin_server_ts
        var latestEdit = await alice.SendAsync(roomId, EditContent(original, "hello"));
        await bob.SendAsync(roomId, EditContent(original, "bob may not edit this"));
        var threadReply1 = await bob.SendAsync(roomId, Related("m.thread", original, "in thread 1"));
        var threadReply2 = await bob.SendAsync(roomId, Related("m.thread", original, "in thread 2"));
        var reference = await bob.SendAsync(roomId, Related("m.reference", original, "see above"));
        await bob.SendAsync(roomId, Related("m.annotation", original, "", "👍"), "m.reaction");

        void Check(JsonElement ev, string viewer)
        {
            var relations = ev.GetProperty("unsigned").GetProperty("m.relations");
            relations.GetProperty("m.replace").GetProperty("event_id").GetString().Should().Be(latestEdit);
            relations.GetProperty("m.replace").GetProperty("content").GetProperty("m.new_content").GetProperty("body").GetString().Should().Be("hello");
            var thread = relations.GetProperty("m.thread");
            thread.GetProperty("count").GetInt32().Should().Be(2);
            thread.GetProperty("latest_event").GetProperty("event_id").GetString().Should().Be(threadReply2);
            thread.GetProperty("current_user_participated").GetBoolean().Should().BeTrue(viewer + " sent the root or a reply");
            relations.GetProperty("m.reference").GetProperty("chunk").Ids().Should().Equal(reference);
            relations.TryGetProperty("m.annotation", out _).Should().BeFalse();
            ev.GetProperty("content").GetProperty("body").GetString().Should().Be("helo", "the server does not apply edits (MSC3925)");
        }

        Check((await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/event/{Esc(original)}")).EnsureOk().Json, "alice");
        var messages = (await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&limit=50")).EnsureOk().Json;
        Check(messages.GetProperty("chunk").EnumerateArray().Single(e => e.GetProperty("event_id").GetString() == original), "bob");
        var context = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/context/{Esc(original)}")).EnsureOk().Json;
        Check(context.GetProperty("event"), "alice");

        var sync = (await alice.GetAsync("/_matrix/client/v3/sync?filter=" + Esc("""{"room":{"timeline":{"limit":50}}}"""))).EnsureOk().Json;
        var timeline = sync.GetProperty("rooms").GetProperty("join").GetProperty(roomId).GetProperty("timeline").GetProperty("events");
        Check(timeline.EnumerateArray().Single(e => e.GetProperty("event_id").GetString() == original), "alice");

        // A third user took no part in the thread.
        var carol = await server.NewUserAsync();
        await carol.JoinAsync(roomId);
        var carolView = (await carol.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/event/{Esc(original)}")).EnsureOk().Json;
        carolView.GetProperty("unsigned").GetProperty("m.relations").GetProperty("m.thread").GetProperty("current_user_participated").GetBoolean().Should().BeFalse();
        _ = threadReply1;
    }

    [Fact]
    public async Task A_redacted_relation_no_longer_counts()
    {
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var root = await alice.SayAsync(roomId, "root");
        var reply = await alice.SendAsync(roomId, Related("m.thread", root, "reply"));
        await RedactAsync(alice, roomId, reply);

        var ev = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/event/{Esc(root)}")).EnsureOk().Json;
        ev.GetProperty("unsigned").TryGetProperty("m.relations", out _).Should().BeFalse();
        var relations = (await alice.GetAsync($"/_matrix/client/v1/rooms/{Esc(roomId)}/relations/{Esc(root)}")).EnsureOk().Json;
        relations.GetProperty("chunk").EnumerateArray().Should().BeEmpty();
    }

    [Fact]
    public async Task Threads_are_listed_most_recent_first_and_by_participation()
    {
        var (alice, bob, roomId, rootA, rootB) = await TwoThreadRootsAsync();
        await alice.SendAsync(roomId, Related("m.thread", rootB, "alice in B"));
        await bob.SendAsync(roomId, Related("m.thread", rootA, "bob in A, latest"));

        var path = $"/_matrix/client/v1/rooms/{Esc(roomId)}/threads";
        var all = (await alice.GetAsync(path)).EnsureOk().Json;
        all.GetProperty("chunk").Ids().Should().Equal(rootA, rootB);
        all.GetProperty("chunk")[0].GetProperty("unsigned").GetProperty("m.relations").GetProperty("m.thread").GetProperty("count").GetInt32().Should().Be(1);

        var paged = (await alice.GetAsync(path + "?limit=1")).EnsureOk().Json;
        paged.GetProperty("chunk").Ids().Should().Equal(rootA);
        var rest = (await alice.GetAsync(path + "?limit=1&from=" + Esc(paged.GetProperty("next_batch").GetString()!))).EnsureOk().Json;
        rest.GetProperty("chunk").Ids().Should().Equal(rootB);

        var carol = await server.NewUserAsync();
        await carol.JoinAsync(roomId);
        var carolRoot = await carol.SayAsync(roomId, "carol's own");
        await alice.SendAsync(roomId, Related("m.thread", carolRoot, "alice answers carol"));
        var participated = (await carol.GetAsync(path + "?include=participated")).EnsureOk().Json;
        participated.GetProperty("chunk").Ids().Should().Equal(carolRoot);
        (await carol.GetAsync(path + "?include=mine")).ErrCode.Should().Be("M_INVALID_PARAM");
        var stranger = await server.NewUserAsync();
        (await stranger.GetAsync($"/_matrix/client/v1/rooms/{Esc(await alice.CreateRoomAsync())}/threads")).Status.Should().Be(HttpStatusCode.Forbidden);
    }

    /// <summary>A public room of alice and bob, with a message of each: "thread A" (alice's) and "thread B" (bob's).</summary>
    private async Task<(MatrixClient Alice, MatrixClient Bob, string RoomId, string RootA, string RootB)> TwoThreadRootsAsync()
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat" });
        await bob.JoinAsync(roomId);
        return (alice, bob, roomId, await alice.SayAsync(roomId, "thread A"), await bob.SayAsync(roomId, "thread B"));
    }

    private static async Task RedactAsync(MatrixClient client, string roomId, string eventId) =>
        (await client.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/redact/{Esc(eventId)}/r{Guid.NewGuid():N}", new { })).EnsureOk();

    [Fact]
    public async Task A_user_stops_taking_part_in_a_thread_when_their_last_reply_is_redacted_unless_they_sent_its_root()
    {
        var (alice, bob, roomId, rootA, rootB) = await TwoThreadRootsAsync();
        var bobInA1 = await bob.SendAsync(roomId, Related("m.thread", rootA, "bob in A, first"));
        var bobInA2 = await bob.SendAsync(roomId, Related("m.thread", rootA, "bob in A, second"));
        var aliceInB = await alice.SendAsync(roomId, Related("m.thread", rootB, "alice in B"));
        await bob.SendAsync(roomId, Related("m.thread", rootB, "bob in B"));
        var path = $"/_matrix/client/v1/rooms/{Esc(roomId)}/threads?include=participated";
        (await bob.GetAsync(path)).EnsureOk().Json.GetProperty("chunk").Ids().Should().Equal(rootB, rootA);
        (await alice.GetAsync(path)).EnsureOk().Json.GetProperty("chunk").Ids().Should().Equal(rootB, rootA);

        // Alice's only reply in A is gone, but she sent A's root.
        var aliceInA = await alice.SendAsync(roomId, Related("m.thread", rootA, "alice in A"));
        await RedactAsync(alice, roomId, aliceInA);
        (await alice.GetAsync(path)).EnsureOk().Json.GetProperty("chunk").Ids().Should().Equal(rootB, rootA);

        // One of bob's two replies in A is gone: he still took part.
        await RedactAsync(bob, roomId, bobInA1);
        (await bob.GetAsync(path)).EnsureOk().Json.GetProperty("chunk").Ids().Should().Equal(rootB, rootA);

        // His last reply in A is gone: A is no longer his. Alice's only reply in B is gone: B is no longer hers.
        await RedactAsync(bob, roomId, bobInA2);
        await RedactAsync(alice, roomId, aliceInB);
        (await bob.GetAsync(path)).EnsureOk().Json.GetProperty("chunk").Ids().Should().Equal(rootB);

        // A has no reply left: it is no thread now, and no one's list has it until it has a reply again.
        (await alice.GetAsync(path)).EnsureOk().Json.GetProperty("chunk").Ids().Should().BeEmpty();
        await bob.SendAsync(roomId, Related("m.thread", rootA, "bob back in A"));
        (await alice.GetAsync(path)).EnsureOk().Json.GetProperty("chunk").Ids().Should().Equal(rootA);
    }

    [Fact]
    public async Task A_thread_whose_latest_reply_is_redacted_moves_back_to_the_reply_before_and_goes_with_its_last()
    {
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var rootA = await alice.SayAsync(roomId, "thread A");
        var rootB = await alice.SayAsync(roomId, "thread B");
        await alice.SendAsync(roomId, Related("m.thread", rootA, "first in A"));
        var inB = await alice.SendAsync(roomId, Related("m.thread", rootB, "in B"));
        var latestInA = await alice.SendAsync(roomId, Related("m.thread", rootA, "latest in A"));
        var path = $"/_matrix/client/v1/rooms/{Esc(roomId)}/threads";
        (await alice.GetAsync(path)).EnsureOk().Json.GetProperty("chunk").Ids().Should().Equal(rootA, rootB);

        // A's latest reply is gone: its latest is now its first reply, older than B's.
        await RedactAsync(alice, roomId, latestInA);
        (await alice.GetAsync(path)).EnsureOk().Json.GetProperty("chunk").Ids().Should().Equal(rootB, rootA);

        // B's only reply is gone: B is no thread any more.
        await RedactAsync(alice, roomId, inB);
        (await alice.GetAsync(path)).EnsureOk().Json.GetProperty("chunk").Ids().Should().Equal(rootA);

        // A redaction of a reply that is not its thread's latest leaves the thread where it is.
        var second = await alice.SendAsync(roomId, Related("m.thread", rootA, "second in A"));
        await alice.SendAsync(roomId, Related("m.thread", rootA, "third in A"));
        await RedactAsync(alice, roomId, second);
        var threads = (await alice.GetAsync(path)).EnsureOk().Json.GetProperty("chunk");
        threads.Ids().Should().Equal(rootA);
        threads[0].GetProperty("unsigned").GetProperty("m.relations").GetProperty("m.thread").GetProperty("latest_event").GetProperty("content").GetProperty("body").GetString()
            .Should().Be("third in A");
    }

    [Fact]
    public async Task Timestamp_to_event_finds_the_closest_event_in_each_direction()
    {
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var first = await alice.SayAsync(roomId, "first");
        await Task.Delay(20);
        var middleTs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await Task.Delay(20);
        var second = await alice.SayAsync(roomId, "second");
        var path = $"/_matrix/client/v1/rooms/{Esc(roomId)}/timestamp_to_event";

        (await alice.GetAsync(path + $"?ts={middleTs}&dir=b")).EnsureOk().Json.GetProperty("event_id").GetString().Should().Be(first);
        var after = (await alice.GetAsync(path + $"?ts={middleTs}&dir=f")).EnsureOk().Json;
        after.GetProperty("event_id").GetString().Should().Be(second);
        after.GetProperty("origin_server_ts").GetInt64().Should().BeGreaterThan(middleTs);

        (await alice.GetAsync(path + "?ts=1&dir=b")).Status.Should().Be(HttpStatusCode.NotFound);
        (await alice.GetAsync(path + "?dir=b")).ErrCode.Should().Be("M_MISSING_PARAM");
        (await alice.GetAsync(path + "?ts=abc&dir=b")).ErrCode.Should().Be("M_INVALID_PARAM");
        (await alice.GetAsync(path + "?ts=1&dir=x")).ErrCode.Should().Be("M_INVALID_PARAM");
        var stranger = await server.NewUserAsync();
        (await stranger.GetAsync(path + $"?ts={middleTs}&dir=b")).Status.Should().Be(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Events_of_ignored_users_are_dropped_from_messages_and_context_but_state_stays()
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat" });
        await bob.JoinAsync(roomId);
        var fromAlice = await alice.SayAsync(roomId, "hello");
        var fromBob = await bob.SayAsync(roomId, "noise");
        var last = await alice.SayAsync(roomId, "bye");
        await server.SetAccountDataAsync(alice.UserId!, "m.ignored_user_list", "{\"ignored_users\":{\"" + bob.UserId + "\":{}}}");

        var messages = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&limit=50")).EnsureOk().Json.GetProperty("chunk");
        messages.Ids().Should().Contain([fromAlice, last]).And.NotContain(fromBob);
        messages.EnumerateArray().Should().Contain(e => e.GetProperty("type").GetString() == "m.room.member" && e.GetProperty("state_key").GetString() == bob.UserId);

        var context = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/context/{Esc(fromAlice)}")).EnsureOk().Json;
        context.GetProperty("events_after").Ids().Should().Equal(last);
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/context/{Esc(fromBob)}")).Status.Should().Be(HttpStatusCode.NotFound);

        // Bob still sees his own message.
        (await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&limit=50")).EnsureOk().Json.GetProperty("chunk").Ids().Should().Contain(fromBob);
    }
}
