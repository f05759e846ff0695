using System.Net;
using System.Text.Json;
using Homeserver.Core.Streams;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests;

public sealed class RoomTests(TestServer server) : IClassFixture<TestServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    private static async Task<string> CreateRoomAsync(MatrixClient client, object? body = null) =>
        (await client.PostAsync("/_matrix/client/v3/createRoom", body ?? new { })).EnsureOk().Json.GetProperty("room_id").GetString()!;

    [Theory]
    [InlineData("1")]
    [InlineData("6")]
    [InlineData("10")]
    [InlineData("11")]
    [InlineData("12")]
    public async Task A_created_room_has_the_initial_state_of_its_version(string version)
    {
        var alice = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice, new { room_version = version, name = "Test room", topic = "About tests", preset = "public_chat" });
        if (version == "12")
        {
            roomId.Should().NotContain(":");
        }
        else
        {
            roomId.Should().EndWith(":" + server.ServerName);
        }

        var state = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/state")).EnsureOk().Json;
        var types = state.EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        types.Should().Contain(["m.room.create", "m.room.member", "m.room.power_levels", "m.room.join_rules", "m.room.history_visibility", "m.room.name", "m.room.topic"]);
        var create = state.EnumerateArray().Single(e => e.GetProperty("type").GetString() == "m.room.create");
        create.GetProperty("content").GetProperty("room_version").GetString().Should().Be(version);

        var name = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/state/m.room.name")).EnsureOk().Json;
        name.GetProperty("name").GetString().Should().Be("Test room");
        var joinRule = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/state/m.room.join_rules/")).EnsureOk().Json;
        joinRule.GetProperty("join_rule").GetString().Should().Be("public");
    }

    [Fact]
    public async Task Messages_sent_are_read_back_in_order_by_pagination()
    {
        var alice = await NewUserAsync();
        var roomId = Uri.EscapeDataString(await CreateRoomAsync(alice));
        var sent = new List<string>();
        for (var i = 0; i < 25; i++)
        {
            var r = (await alice.PutAsync($"/_matrix/client/v3/rooms/{roomId}/send/m.room.message/txn{i}", new { msgtype = "m.text", body = $"message {i}" })).EnsureOk();
            sent.Add(r.Json.GetProperty("event_id").GetString()!);
        }

        var seen = new List<string>();
        string? from = null;
        for (var page = 0; page < 10; page++)
        {
            var url = $"/_matrix/client/v3/rooms/{roomId}/messages?dir=b&limit=10" + (from is null ? string.Empty : "&from=" + Uri.EscapeDataString(from));
            var response = (await alice.GetAsync(url)).EnsureOk().Json;
            foreach (var ev in response.GetProperty("chunk").EnumerateArray())
            {
                if (ev.GetProperty("type").GetString() == "m.room.message")
                {
                    seen.Add(ev.GetProperty("event_id").GetString()!);
                }
            }

            if (!response.TryGetProperty("end", out var end))
            {
                break;
            }

            from = end.GetString();
        }

        seen.Reverse();
        seen.Should().Equal(sent);
    }

    [Fact]
    public async Task Resending_with_the_same_transaction_id_returns_the_same_event()
    {
        var alice = await NewUserAsync();
        var roomId = Uri.EscapeDataString(await CreateRoomAsync(alice));
        var first = (await alice.PutAsync($"/_matrix/client/v3/rooms/{roomId}/send/m.room.message/same", new { msgtype = "m.text", body = "hi" })).EnsureOk();
        var second = (await alice.PutAsync($"/_matrix/client/v3/rooms/{roomId}/send/m.room.message/same", new { msgtype = "m.text", body = "hi" })).EnsureOk();
        second.Json.GetProperty("event_id").GetString().Should().Be(first.Json.GetProperty("event_id").GetString());
    }

    [Fact]
    public async Task Concurrent_sends_into_one_room_all_persist_on_one_chain()
    {
        var alice = await NewUserAsync();
        var roomId = Uri.EscapeDataString(await CreateRoomAsync(alice));
        var tasks = Enumerable.Range(0, 40).Select(i =>
            alice.PutAsync($"/_matrix/client/v3/rooms/{roomId}/send/m.room.message/c{i}", new { msgtype = "m.text", body = $"c{i}" }));
        var results = await Task.WhenAll(tasks);
        results.Should().OnlyContain(r => r.Status == HttpStatusCode.OK);
        var ids = results.Select(r => r.Json.GetProperty("event_id").GetString()).ToHashSet();
        ids.Should().HaveCount(40);

        var page = (await alice.GetAsync($"/_matrix/client/v3/rooms/{roomId}/messages?dir=b&limit=100")).EnsureOk().Json;
        page.GetProperty("chunk").EnumerateArray().Select(e => e.GetProperty("event_id").GetString()).Should().Contain(ids);
    }

    [Fact]
    public async Task Events_refused_in_a_burst_are_answered_alone_and_the_rest_of_the_burst_is_written()
    {
        // Eight senders, several rounds each: after the first batches the writer gathers the senders that come back and
        // builds each request as it arrives. A request whose event turns out too large once built (its content fits the
        // request limit, the event with its envelope does not) is refused alone: the others of its batch, built before
        // and after it, are written on the one chain.
        var alice = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice);
        var escaped = Uri.EscapeDataString(roomId);
        var oversized = new string('x', 65_400);
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(async sender =>
        {
            var mine = new List<(string Body, MatrixClient.Response Response)>();
            for (var round = 0; round < 6; round++)
            {
                var body = sender % 3 == 1 && round % 2 == 1 ? oversized : $"s{sender}r{round}";
                mine.Add((body, await alice.PutAsync($"/_matrix/client/v3/rooms/{escaped}/send/m.room.message/s{sender}r{round}", new { msgtype = "m.text", body })));
            }

            return mine;
        }));

        var all = answers.SelectMany(a => a).ToList();
        var refused = all.Where(a => a.Body == oversized).ToList();
        refused.Should().HaveCount(9).And.OnlyContain(a => a.Response.Status == HttpStatusCode.RequestEntityTooLarge && a.Response.ErrCode == "M_TOO_LARGE");
        var written = all.Where(a => a.Body != oversized).ToList();
        written.Should().HaveCount(39).And.OnlyContain(a => a.Response.Status == HttpStatusCode.OK);

        var chain = await RoomTestHelpers.AssertOneChainAsync(server.Database, roomId);
        var bodies = chain.Where(e => e.Event.GetProperty("type").GetString() == "m.room.message")
            .Select(e => e.Event.GetProperty("content").GetProperty("body").GetString()).ToList();
        bodies.Should().BeEquivalentTo(written.Select(w => w.Body)).And.NotContain(oversized);
        chain.Select(e => e.Id).Should().Contain(written.Select(w => w.Response.Json.GetProperty("event_id").GetString()));
    }

    [Fact]
    public async Task A_user_who_left_reads_the_state_as_it_was_but_a_banned_one_reads_nothing()
    {
        // As Synapse: departed users may read what they saw when they left; the banned may not (nor page the timeline).
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var carol = await NewUserAsync();
        var roomId = Uri.EscapeDataString(await CreateRoomAsync(alice, new { preset = "public_chat", name = "Before" }));
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{roomId}/join", new { })).EnsureOk();
        (await carol.PostAsync($"/_matrix/client/v3/rooms/{roomId}/join", new { })).EnsureOk();
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{roomId}/leave", new { })).EnsureOk();
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{roomId}/ban", new { user_id = carol.UserId, reason = "testing" })).EnsureOk();
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{roomId}/state/m.room.name/", new { name = "After" })).EnsureOk();

        (await bob.GetAsync($"/_matrix/client/v3/rooms/{roomId}/state/m.room.name/")).EnsureOk().Json.GetProperty("name").GetString().Should().Be("Before");
        (await bob.GetAsync($"/_matrix/client/v3/rooms/{roomId}/messages?dir=b")).EnsureOk();
        foreach (var path in new[] { $"/state/m.room.member/{Uri.EscapeDataString(carol.UserId!)}", "/state", "/messages?dir=b" })
        {
            var refused = await carol.GetAsync($"/_matrix/client/v3/rooms/{roomId}{path}");
            refused.Status.Should().Be(HttpStatusCode.Forbidden, path);
            refused.ErrCode.Should().Be("M_FORBIDDEN");
        }
    }

    [Fact]
    public async Task A_sent_message_is_in_messages_even_while_an_earlier_write_is_still_committing()
    {
        var alice = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice);

        // An unrelated write (another room's batch, a presence timeout) holds an earlier stream position, and finishes
        // a moment after the message is stored: a send answered before that would be missing from the page read next.
        var earlier = server.Services.GetRequiredService<StreamPositions>().Reserve();
        var releasedAfterStore = Task.Run(async () =>
        {
            const string Stored = "SELECT count(*) FROM events e JOIN rooms r USING (room_nid) WHERE r.room_id = @room AND e.event_type = 'm.room.message'";
            while (await ScalarAsync<long>(server, Stored, ("room", roomId)) == 0)
            {
                await Task.Delay(50);
            }

            await Task.Delay(50);
            earlier.Dispose();
        });
        var eventId = await alice.SayAsync(roomId, "mine");

        var page = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/messages?dir=b&limit=1")).EnsureOk().Json;
        page.GetProperty("chunk").EnumerateArray().Single().GetProperty("event_id").GetString().Should().Be(eventId);
        await releasedAfterStore;
    }

    [Fact]
    public async Task Messages_and_state_changes_sent_at_once_form_one_chain_with_one_forward_extremity()
    {
        // The writer builds the next batch of messages while the one before commits, and sends it once that one is
        // committed (or, once batches carry several requests, gathers the next batch after answering the last);
        // state changes wait for the batch before them. Whatever the interleaving, every event must have
        // the event before it (in stream order) as its only prev_event, and the state must follow the last change.
        var alice = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice);
        var escaped = Uri.EscapeDataString(roomId);
        // Sixteen senders, each sending as soon as its last send was answered (as clients do): batches overlap.
        var results = (await Task.WhenAll(Enumerable.Range(0, 16).Select(async sender =>
        {
            var mine = new List<MatrixClient.Response>();
            for (var i = 0; i < 25; i++)
            {
                mine.Add(sender == 3 && i % 10 == 5
                    ? await alice.PutAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.topic/", new { topic = $"topic {i}" })
                    : await alice.PutAsync($"/_matrix/client/v3/rooms/{escaped}/send/m.room.message/chain{sender}.{i}", new { msgtype = "m.text", body = $"m{i}" }));
            }

            return mine;
        }))).SelectMany(r => r).ToList();
        results.Should().OnlyContain(r => r.Status == HttpStatusCode.OK);

        var chain = await RoomTestHelpers.AssertOneChainAsync(server.Database, roomId);
        chain.Select(e => e.Id).Should().Contain(results.Select(r => r.Json.GetProperty("event_id").GetString()));
        var lastTopic = chain.Select(e => e.Event).Last(e => e.GetProperty("type").GetString() == "m.room.topic");
        var topic = (await alice.GetAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.topic/")).EnsureOk().Json;
        topic.GetProperty("topic").GetString().Should().Be(lastTopic.GetProperty("content").GetProperty("topic").GetString());
    }

    [Fact]
    public async Task A_busy_rooms_writer_goes_on_when_the_senders_it_waits_for_do_not_come_back()
    {
        // After a batch of several requests the writer waits for as many again (briefly): here eight senders send at
        // once, then only one goes on, one message at a time. Each of its sends must still be written (the wait ends
        // by itself), on the one chain. The bound below is for a hang, not a timing: each send takes milliseconds.
        var alice = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice);
        var escaped = Uri.EscapeDataString(roomId);
        var burst = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            alice.PutAsync($"/_matrix/client/v3/rooms/{escaped}/send/m.room.message/burst{i}", new { msgtype = "m.text", body = $"b{i}" })));
        burst.Should().OnlyContain(r => r.Status == HttpStatusCode.OK);

        var lone = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            var send = await alice.PutAsync($"/_matrix/client/v3/rooms/{escaped}/send/m.room.message/lone{i}", new { msgtype = "m.text", body = $"l{i}" })
                .WaitAsync(TimeSpan.FromSeconds(30));
            lone.Add(send.EnsureOk().Json.GetProperty("event_id").GetString()!);
        }

        var chain = await RoomTestHelpers.AssertOneChainAsync(server.Database, roomId);
        chain.Select(e => e.Id).TakeLast(20).Should().Equal(lone);
    }

    [Fact]
    public async Task A_stranger_cannot_send_or_read_and_gets_403()
    {
        var alice = await NewUserAsync();
        var eve = await NewUserAsync();
        var roomId = Uri.EscapeDataString(await CreateRoomAsync(alice));
        var send = await eve.PutAsync($"/_matrix/client/v3/rooms/{roomId}/send/m.room.message/x", new { msgtype = "m.text", body = "intrusion" });
        send.Status.Should().Be(HttpStatusCode.Forbidden);
        send.ErrCode.Should().Be("M_FORBIDDEN");
        (await eve.GetAsync($"/_matrix/client/v3/rooms/{roomId}/messages?dir=b")).Status.Should().Be(HttpStatusCode.Forbidden);
        (await eve.GetAsync($"/_matrix/client/v3/rooms/{roomId}/state")).Status.Should().Be(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Invite_join_and_leave_change_membership()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice);
        var escaped = Uri.EscapeDataString(roomId);
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{escaped}/join", new { })).Status.Should().Be(HttpStatusCode.Forbidden);
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{escaped}/invite", new { user_id = bob.UserId })).EnsureOk();
        (await bob.PostAsync($"/_matrix/client/v3/join/{escaped}", new { })).EnsureOk().Json.GetProperty("room_id").GetString().Should().Be(roomId);

        var joined = (await alice.GetAsync($"/_matrix/client/v3/rooms/{escaped}/joined_members")).EnsureOk().Json.GetProperty("joined");
        joined.EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo([alice.UserId, bob.UserId]);
        (await bob.GetAsync("/_matrix/client/v3/joined_rooms")).EnsureOk().Json.GetProperty("joined_rooms").EnumerateArray().Select(r => r.GetString()).Should().Contain(roomId);

        (await bob.PostAsync($"/_matrix/client/v3/rooms/{escaped}/leave", new { })).EnsureOk();
        (await bob.GetAsync("/_matrix/client/v3/joined_rooms")).EnsureOk().Json.GetProperty("joined_rooms").EnumerateArray().Should().BeEmpty();
        var members = (await alice.GetAsync($"/_matrix/client/v3/rooms/{escaped}/members?membership=leave")).EnsureOk().Json.GetProperty("chunk");
        members.EnumerateArray().Select(m => m.GetProperty("state_key").GetString()).Should().Equal(bob.UserId);
    }

    [Fact]
    public async Task State_reads_give_the_whole_event_with_format_event_and_profiles_with_both_keys()
    {
        var alice = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice);
        var escaped = Uri.EscapeDataString(roomId);

        var member = (await alice.GetAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.member/{Uri.EscapeDataString(alice.UserId!)}?format=event")).EnsureOk().Json;
        member.GetProperty("sender").GetString().Should().Be(alice.UserId);
        member.GetProperty("state_key").GetString().Should().Be(alice.UserId);
        member.GetProperty("room_id").GetString().Should().Be(roomId);
        member.GetProperty("event_id").GetString().Should().StartWith("$");
        member.GetProperty("content").GetProperty("membership").GetString().Should().Be("join");
        var contentOnly = (await alice.GetAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.member/{Uri.EscapeDataString(alice.UserId!)}?format=content")).EnsureOk().Json;
        contentOnly.GetProperty("membership").GetString().Should().Be("join");
        contentOnly.TryGetProperty("sender", out _).Should().BeFalse();
        var bad = await alice.GetAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.create?format=xml");
        bad.Status.Should().Be(HttpStatusCode.BadRequest);
        bad.ErrCode.Should().Be("M_INVALID_PARAM");

        // No avatar was set: the key is there, null, as Synapse answers.
        var profile = (await alice.GetAsync($"/_matrix/client/v3/rooms/{escaped}/joined_members")).EnsureOk().Json.GetProperty("joined").GetProperty(alice.UserId!);
        profile.GetProperty("avatar_url").ValueKind.Should().Be(JsonValueKind.Null);
        profile.TryGetProperty("display_name", out _).Should().BeTrue();
    }

    [Fact]
    public async Task Setting_the_same_state_twice_gives_the_existing_event()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var escaped = Uri.EscapeDataString(await CreateRoomAsync(alice, new { preset = "public_chat" }));
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{escaped}/join", new { })).EnsureOk();

        var first = (await alice.PutAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.topic", new { topic = "same" })).EnsureOk().Json.GetProperty("event_id").GetString();
        var again = (await alice.PutAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.topic", new { topic = "same" })).EnsureOk().Json.GetProperty("event_id").GetString();
        again.Should().Be(first, "an identical state event from the same sender is not sent again");

        var changed = (await alice.PutAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.topic", new { topic = "different" })).EnsureOk().Json.GetProperty("event_id").GetString();
        changed.Should().NotBe(first);

        // Another sender setting the same content is a new event (it records who set it).
        var levels = (await alice.GetAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.power_levels")).EnsureOk().Json;
        var users = JsonSerializer.Deserialize<Dictionary<string, int>>(levels.GetProperty("users").GetRawText())!;
        users[bob.UserId!] = 100;
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.power_levels", new { users })).EnsureOk();
        var byBob = (await bob.PutAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.topic", new { topic = "different" })).EnsureOk().Json.GetProperty("event_id").GetString();
        byBob.Should().NotBe(changed);
    }

    [Fact]
    public async Task A_join_body_adds_its_keys_to_the_membership_content()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice, new { preset = "public_chat" });
        var escaped = Uri.EscapeDataString(roomId);

        (await bob.PostAsync($"/_matrix/client/v3/join/{escaped}", new { foo = "bar", reason = "hello", membership = "ban" })).EnsureOk();

        var content = (await alice.GetAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.member/{Uri.EscapeDataString(bob.UserId!)}")).EnsureOk().Json;
        content.GetProperty("foo").GetString().Should().Be("bar");
        content.GetProperty("reason").GetString().Should().Be("hello");
        content.GetProperty("membership").GetString().Should().Be("join");
    }

    [Fact]
    public async Task A_banned_user_cannot_rejoin_be_invited_or_kicked_until_unbanned()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var escaped = Uri.EscapeDataString(await CreateRoomAsync(alice, new { preset = "public_chat" }));
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{escaped}/join", new { })).EnsureOk();

        (await alice.PostAsync($"/_matrix/client/v3/rooms/{escaped}/ban", new { user_id = bob.UserId, reason = "testing" })).EnsureOk();
        var member = (await alice.GetAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.member/{Uri.EscapeDataString(bob.UserId!)}")).EnsureOk().Json;
        member.GetProperty("membership").GetString().Should().Be("ban");
        member.GetProperty("reason").GetString().Should().Be("testing");

        (await bob.PostAsync($"/_matrix/client/v3/rooms/{escaped}/join", new { })).Status.Should().Be(HttpStatusCode.Forbidden);
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{escaped}/invite", new { user_id = bob.UserId })).Status.Should().Be(HttpStatusCode.Forbidden);
        var kick = await alice.PostAsync($"/_matrix/client/v3/rooms/{escaped}/kick", new { user_id = bob.UserId });
        kick.Status.Should().Be(HttpStatusCode.Forbidden);
        kick.ErrCode.Should().Be("M_FORBIDDEN");
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{escaped}/state/m.room.member/{Uri.EscapeDataString(bob.UserId!)}")).EnsureOk()
            .Json.GetProperty("membership").GetString().Should().Be("ban", "the refused kick did not lift the ban");

        (await alice.PostAsync($"/_matrix/client/v3/rooms/{escaped}/unban", new { user_id = bob.UserId })).EnsureOk();
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{escaped}/join", new { })).EnsureOk();
    }

    [Fact]
    public async Task A_former_member_pages_back_from_where_they_left()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var escaped = Uri.EscapeDataString(await CreateRoomAsync(alice, new { preset = "public_chat" }));
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{escaped}/join", new { })).EnsureOk();
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{escaped}/send/m.room.message/m1", new { msgtype = "m.text", body = "M1" })).EnsureOk();
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{escaped}/send/m.room.message/m2", new { msgtype = "m.text", body = "M2" })).EnsureOk();
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{escaped}/leave", new { })).EnsureOk();
        for (var i = 3; i < 6; i++)
        {
            (await alice.PutAsync($"/_matrix/client/v3/rooms/{escaped}/send/m.room.message/m{i}", new { msgtype = "m.text", body = $"M{i}" })).EnsureOk();
        }

        var chunk = (await bob.GetAsync($"/_matrix/client/v3/rooms/{escaped}/messages?dir=b&limit=2")).EnsureOk().Json.GetProperty("chunk").EnumerateArray().ToList();

        chunk.Should().HaveCount(2);
        chunk[0].GetProperty("type").GetString().Should().Be("m.room.member");
        chunk[0].GetProperty("content").GetProperty("membership").GetString().Should().Be("leave");
        chunk[1].GetProperty("content").GetProperty("body").GetString().Should().Be("M2");
    }

    [Fact]
    public async Task A_redacted_event_loses_its_content_and_says_why()
    {
        var alice = await NewUserAsync();
        var roomId = Uri.EscapeDataString(await CreateRoomAsync(alice));
        var eventId = (await alice.PutAsync($"/_matrix/client/v3/rooms/{roomId}/send/m.room.message/r1", new { msgtype = "m.text", body = "oops" })).EnsureOk().Json.GetProperty("event_id").GetString()!;
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{roomId}/redact/{Uri.EscapeDataString(eventId)}/red1", new { reason = "typo" })).EnsureOk();
        var ev = (await alice.GetAsync($"/_matrix/client/v3/rooms/{roomId}/event/{Uri.EscapeDataString(eventId)}")).EnsureOk().Json;
        ev.GetProperty("content").EnumerateObject().Should().BeEmpty();
        ev.GetProperty("unsigned").GetProperty("redacted_because").GetProperty("content").GetProperty("reason").GetString().Should().Be("typo");
    }

    [Fact]
    public async Task An_event_over_64_KiB_is_M_TOO_LARGE_and_not_stored()
    {
        var alice = await NewUserAsync();
        var roomId = Uri.EscapeDataString(await CreateRoomAsync(alice));
        var response = await alice.PutAsync($"/_matrix/client/v3/rooms/{roomId}/send/m.room.message/big", new { msgtype = "m.text", body = new string('x', 70_000) });
        response.Status.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        response.ErrCode.Should().Be("M_TOO_LARGE");
    }

    // A body without Content-Length (chunked) is read as it comes, and still held to the limit.
    [Theory]
    [InlineData(100, HttpStatusCode.OK)]
    [InlineData(70_000, HttpStatusCode.RequestEntityTooLarge)]
    public async Task A_send_with_a_chunked_body_is_read_whole_and_held_to_the_limit(int bodyLength, HttpStatusCode expected)
    {
        var alice = await NewUserAsync();
        var roomId = Uri.EscapeDataString(await CreateRoomAsync(alice));
        var body = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { msgtype = "m.text", body = new string('y', bodyLength) });
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/_matrix/client/v3/rooms/{roomId}/send/m.room.message/chunked")
        {
            Content = new StreamContent(new MemoryStream(body)),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", alice.AccessToken);
        request.Headers.TransferEncodingChunked = true;
        using var response = await server.Client.SendAsync(request);
        response.StatusCode.Should().Be(expected);
        if (expected == HttpStatusCode.OK)
        {
            var eventId = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("event_id").GetString()!;
            var stored = (await alice.GetAsync($"/_matrix/client/v3/rooms/{roomId}/event/{Uri.EscapeDataString(eventId)}")).EnsureOk().Json;
            stored.GetProperty("content").GetProperty("body").GetString().Should().HaveLength(bodyLength);
        }
    }

    [Fact]
    public async Task State_set_through_the_state_api_is_current_and_keeps_prev_content()
    {
        var alice = await NewUserAsync();
        var roomId = Uri.EscapeDataString(await CreateRoomAsync(alice));
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{roomId}/state/m.room.topic", new { topic = "one" })).EnsureOk();
        var second = (await alice.PutAsync($"/_matrix/client/v3/rooms/{roomId}/state/m.room.topic/", new { topic = "two" })).EnsureOk().Json.GetProperty("event_id").GetString()!;
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{roomId}/state/m.room.topic")).EnsureOk().Json.GetProperty("topic").GetString().Should().Be("two");
        var ev = (await alice.GetAsync($"/_matrix/client/v3/rooms/{roomId}/event/{Uri.EscapeDataString(second)}")).EnsureOk().Json;
        ev.GetProperty("unsigned").GetProperty("prev_content").GetProperty("topic").GetString().Should().Be("one");
    }
}
