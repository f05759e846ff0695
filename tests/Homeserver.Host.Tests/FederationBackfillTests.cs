using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

/// <summary>
/// Outbound backfill: a server that joined a room late fetches the history before its join from the room's other
/// servers when a client pages back past it, stores it before the live timeline, and does not hand it out as news.
/// </summary>
public sealed class FederationBackfillTests(TwoServers servers) : IClassFixture<TwoServers>
{
    private static string Esc(string s) => Uri.EscapeDataString(s);

    private static string? Body(JsonElement e) =>
        e.GetProperty("content").TryGetProperty("body", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString() : null;

    /// <summary>Pages /messages backwards from the room's latest events until a page has no "end".</summary>
    private static async Task<(List<JsonElement> Events, List<string> Tokens)> PageBackAsync(MatrixClient client, string roomId, int limit)
    {
        var events = new List<JsonElement>();
        var tokens = new List<string>();
        string? from = null;
        for (var page = 0; page < 100; page++)
        {
            var url = $"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&limit={limit}" + (from is null ? string.Empty : "&from=" + Esc(from));
            var body = (await client.GetAsync(url)).EnsureOk().Json;
            events.AddRange(body.GetProperty("chunk").EnumerateArray().Select(e => e.Clone()));
            if (!body.TryGetProperty("end", out var end))
            {
                return (events, tokens);
            }

            from = end.GetString()!;
            tokens.Add(from);
        }

        throw new InvalidOperationException("pagination did not end");
    }

    [Theory]
    [InlineData("10")]
    [InlineData("12")]
    public async Task A_late_joiner_pages_back_through_history_from_before_its_server_joined(string roomVersion)
    {
        var alice = await new MatrixClient(servers.A.Client).RegisterAsync();
        var bob = await new MatrixClient(servers.B.Client).RegisterAsync();
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat", name = "History", room_version = roomVersion }))
            .EnsureOk().Json.GetProperty("room_id").GetString()!;
        const int Messages = 45;
        for (var i = 1; i <= Messages; i++)
        {
            (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/m{i}", new { msgtype = "m.text", body = $"message {i}" })).EnsureOk();
        }

        (await bob.PostAsync($"/_matrix/client/v3/join/{Esc(roomId)}?server_name={Esc(servers.A.ServerName)}", new { })).EnsureOk();
        var since = (await bob.GetAsync("/_matrix/client/v3/sync?timeout=0")).EnsureOk().Json.GetProperty("next_batch").GetString()!;

        // Pages of 10 from Bob's join back to the room's creation: the history came from server A, in order.
        var (events, tokens) = await PageBackAsync(bob, roomId, 10);
        events.Select(e => e.GetProperty("event_id").GetString()).Should().OnlyHaveUniqueItems();
        events[0].GetProperty("type").GetString().Should().Be("m.room.member");
        events[0].GetProperty("state_key").GetString().Should().Be(bob.UserId);
        events.Select(Body).OfType<string>().Should().Equal(Enumerable.Range(1, Messages).Reverse().Select(i => $"message {i}"));
        events[^1].GetProperty("type").GetString().Should().Be("m.room.create");
        events.Should().Contain(e => e.GetProperty("type").GetString() == "m.room.name");
        tokens.Should().Contain(t => t.Contains("--"), "backfilled events have negative stream positions, which tokens carry");

        // What Alice sees of the room is the same history, event for event.
        var (aliceEvents, _) = await PageBackAsync(alice, roomId, 50);
        aliceEvents.Select(e => e.GetProperty("event_id").GetString()).Should().Equal(events.Select(e => e.GetProperty("event_id").GetString()));

        // Backfilled history is not news: Bob's next sync does not bring it.
        var after = (await bob.GetAsync($"/_matrix/client/v3/sync?timeout=0&since={Esc(since)}")).EnsureOk().Json;
        if (after.GetProperty("rooms").TryGetProperty("join", out var join) && join.TryGetProperty(roomId, out var room))
        {
            room.GetProperty("timeline").GetProperty("events").EnumerateArray().Select(Body).OfType<string>().Should().BeEmpty();
        }

        // A single backfilled event can be read, and the room's state and DAG are untouched: Bob still talks to Alice.
        var third = events.First(e => Body(e) == "message 3").GetProperty("event_id").GetString()!;
        Body((await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/event/{Esc(third)}")).EnsureOk().Json).Should().Be("message 3");
        (await bob.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/joined_members")).EnsureOk().Json.GetProperty("joined")
            .EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo([alice.UserId, bob.UserId]);
        (await bob.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/after", new { msgtype = "m.text", body = "after backfill" })).EnsureOk();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var latest = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&limit=1")).EnsureOk().Json.GetProperty("chunk");
            if (latest.GetArrayLength() == 1 && Body(latest[0]) == "after backfill")
            {
                latest[0].GetProperty("content").GetProperty("body").GetString().Should().Be("after backfill");
                break;
            }

            DateTime.UtcNow.Should().BeBefore(deadline, "Bob's message should reach Alice's server");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task History_visibility_applies_to_backfilled_events_as_to_any_other()
    {
        var alice = await new MatrixClient(servers.A.Client).RegisterAsync();
        var bob = await new MatrixClient(servers.B.Client).RegisterAsync();
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat" }))
            .EnsureOk().Json.GetProperty("room_id").GetString()!;
        for (var i = 1; i <= 3; i++)
        {
            (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/s{i}", new { msgtype = "m.text", body = $"shared {i}" })).EnsureOk();
        }

        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.history_visibility/", new { history_visibility = "joined" })).EnsureOk();
        for (var i = 1; i <= 3; i++)
        {
            (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/j{i}", new { msgtype = "m.text", body = $"joined only {i}" })).EnsureOk();
        }

        (await bob.PostAsync($"/_matrix/client/v3/join/{Esc(roomId)}?server_name={Esc(servers.A.ServerName)}", new { })).EnsureOk();

        // Messages sent while the history was shared reach the late joiner; those of the joined-only period do not.
        var (events, _) = await PageBackAsync(bob, roomId, 4);
        events.Select(Body).OfType<string>().Should().Equal("shared 3", "shared 2", "shared 1");
        events[^1].GetProperty("type").GetString().Should().Be("m.room.create");
    }
}

/// <summary>
/// Gaps in the middle of the timeline: events missed while away that <c>get_missing_events</c> did not bring are
/// backfilled when a client's page reaches them, so paging back shows every event in order.
/// </summary>
public sealed class FederationGapBackfillTests(ServerWithFakeRemote fixture) : IClassFixture<ServerWithFakeRemote>
{
    private FederatedTestServer Server => fixture.Server;

    private FakeRemoteServer Remote => fixture.Remote;

    private static string Esc(string s) => Uri.EscapeDataString(s);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_gap_left_by_get_missing_events_is_backfilled_when_paging_reaches_it(bool remoteAnswersBackfill)
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat", room_version = "10" }))
            .EnsureOk().Json.GetProperty("room_id").GetString()!;
        var mallory = await RemoteRoomMember.JoinAsync(Server, Remote, roomId);

        // Fifteen messages of the remote user, of which we are pushed only the last; get_missing_events gives two more.
        var chain = new List<JsonObject>();
        for (var i = 1; i <= 15; i++)
        {
            chain.Add(Remote.SignEvent(i == 1 ? mallory.Message("gap 1") : mallory.Message($"gap {i}", chain[^1]), RoomVersion.V10));
        }

        var stateAnswers = await mallory.StateAnswersAsync();
        var backfills = 0;
        Remote.Intercept = request => Task.FromResult(request.Path.Value switch
        {
            { } path when path.StartsWith("/_matrix/federation/v1/get_missing_events/", StringComparison.Ordinal) =>
                RemoteRoomMember.Answer(new JsonObject { ["events"] = new JsonArray(chain[12].DeepClone(), chain[13].DeepClone()) }),
            { } path when path == "/_matrix/federation/v1/event/" + RemoteRoomMember.Id(chain[11]) => mallory.PdusAnswer([chain[11]]),
            { } path when path.StartsWith("/_matrix/federation/v1/backfill/", StringComparison.Ordinal)
                && request.Query["v"].ToString() == RemoteRoomMember.Id(chain[11]) && Interlocked.Increment(ref backfills) > 0 =>
                remoteAnswersBackfill ? mallory.PdusAnswer(chain.Take(12).Reverse()) : RemoteRoomMember.Answer(new JsonArray("not", "an", "object")),
            _ => stateAnswers(request),
        });
        try
        {
            await mallory.SendAcknowledgedAsync(chain[14]);

            // Pages of three, from the latest event back to the room's creation: every message, in order.
            var bodies = new List<string>();
            string? from = null;
            for (var page = 0; page < 50; page++)
            {
                var url = $"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&limit=3" + (from is null ? string.Empty : "&from=" + Esc(from));
                var body = (await alice.GetAsync(url)).EnsureOk().Json;
                bodies.AddRange(body.GetProperty("chunk").EnumerateArray()
                    .Select(e => e.GetProperty("content").TryGetProperty("body", out var b) ? b.GetString() : null).OfType<string>());
                if (!body.TryGetProperty("end", out var end))
                {
                    break;
                }

                from = end.GetString();
            }

            // A server that answers nonsense costs the client nothing but the gap: the pages show what we hold.
            bodies.Should().Equal(Enumerable.Range(remoteAnswersBackfill ? 1 : 13, remoteAnswersBackfill ? 15 : 3).Reverse().Select(i => $"gap {i}"));
            backfills.Should().Be(1, "the gap is asked for once (a fruitless one not again within a minute), when the first page reaches the event after it");
        }
        finally
        {
            Remote.Intercept = null;
        }
    }
}
