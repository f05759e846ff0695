using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

/// <summary>
/// What becomes of events another server sends that our checks do not simply accept (server-server API, "Checks
/// performed on receipt of a PDU", "Soft failure", "Handling redactions"), and what we send to servers not in a room.
/// </summary>
public sealed class FederationInboundOutcomeTests(ServerWithFakeRemote fixture) : IClassFixture<ServerWithFakeRemote>
{
    private FederatedTestServer Server => fixture.Server;

    private FakeRemoteServer Remote => fixture.Remote;

    private static string Esc(string s) => Uri.EscapeDataString(s);

    private async Task<string> CreateRoomAsync(MatrixClient owner) =>
        (await owner.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat", room_version = "10" })).EnsureOk().Json.GetProperty("room_id").GetString()!;

    /// <summary>Raises the level needed to send <paramref name="eventType"/> to 50; returns the new power levels event's ID.</summary>
    private static async Task<string> RestrictAsync(MatrixClient owner, string roomId, string eventType)
    {
        var levels = JsonNode.Parse((await owner.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.power_levels")).EnsureOk().Json.GetRawText())!.AsObject();
        levels["events"]![eventType] = 50;
        return (await owner.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.power_levels", levels)).EnsureOk().Json.GetProperty("event_id").GetString()!;
    }

    /// <summary>
    /// Alice's rooms 1 (named "Room one") and 2, both joined by one user of the fake server, who sends
    /// <paramref name="inRoom1"/> to room 1; returns that user in room 2 and their unsigned message
    /// <paramref name="crossing"/> of room 2 whose prev event is the one of room 1.
    /// </summary>
    private async Task<(MatrixClient Alice, RemoteRoomMember InRoom2, JsonObject Crossing)> CrossRoomAsync(string inRoom1, string crossing)
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var room1 = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat", room_version = "10", name = "Room one" }))
            .EnsureOk().Json.GetProperty("room_id").GetString()!;
        var member1 = await RemoteRoomMember.JoinAsync(Server, Remote, room1);
        var member2 = await RemoteRoomMember.JoinAsync(Server, Remote, await CreateRoomAsync(alice), member1.UserId);
        var p = await member1.SendAcknowledgedAsync(member1.Message(inRoom1));
        var message = member2.Message(crossing);
        message["prev_events"] = new JsonArray(RemoteRoomMember.Id(p));
        message["depth"] = p["depth"]!.GetValue<long>() + 1;
        return (alice, member2, message);
    }

    /// <summary>
    /// Waits until the fake server has been sent an event of ours matching <paramref name="match"/>: up to 30 s, so that
    /// a transaction that failed once (the whole suite loads the machine) is retried within it (the sender's first
    /// retry is 10 s after a failure).
    /// </summary>
    private async Task<JsonElement> ReceivedPduAsync(Func<JsonElement, bool> match)
    {
        for (var i = 0; i < 300; i++)
        {
            var found = Remote.ReceivedTransactions
                .SelectMany(t => t.TryGetProperty("pdus", out var pdus) ? pdus.EnumerateArray() : Enumerable.Empty<JsonElement>())
                .Where(match)
                .ToList();
            if (found.Count > 0)
            {
                return found[0];
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("The fake server was never sent the expected event");
    }

    private static bool IsMessage(JsonElement pdu, string body) =>
        pdu.GetProperty("type").GetString() == "m.room.message"
        && pdu.GetProperty("content").TryGetProperty("body", out var b) && b.GetString() == body;

    [Fact]
    public async Task An_event_allowed_before_it_but_not_by_the_current_state_is_soft_failed_acknowledged_and_never_shown()
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var mallory = await RemoteRoomMember.JoinAsync(Server, Remote, await CreateRoomAsync(alice));
        await RestrictAsync(alice, mallory.RoomId, "m.room.message");

        // Built on the join, before the new power levels: it passes against its auth events and the state before it.
        var late = await mallory.SendAcknowledgedAsync(mallory.Message("too late"));

        (await RemoteRoomMember.BodiesAsync(alice, mallory.RoomId)).Should().NotContain("too late");
        var (status, _) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/state_ids/{Esc(mallory.RoomId)}?event_id={Esc(RemoteRoomMember.Id(late))}");
        status.Should().Be(200, "a soft-failed event is in the DAG with its state");
    }

    [Fact]
    public async Task An_event_whose_prev_events_the_sender_does_not_divulge_is_acknowledged_but_dropped()
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var mallory = await RemoteRoomMember.JoinAsync(Server, Remote, await CreateRoomAsync(alice));
        var orphan = mallory.Message("orphan");
        orphan["prev_events"] = new JsonArray($"$unknown{Guid.NewGuid():N}");

        // The fake server answers no get_missing_events: the gap stays, and the event is not taken in on trust.
        var sent = await mallory.SendAcknowledgedAsync(orphan);
        (await RemoteRoomMember.BodiesAsync(alice, mallory.RoomId)).Should().NotContain("orphan");
        var (status, _) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/event/{Esc(RemoteRoomMember.Id(sent))}");
        status.Should().Be(404);
    }

    [Fact]
    public async Task An_accepted_event_after_soft_failed_ones_replaces_the_extremity_they_followed()
    {
        // J ─ PL (ours: test.sf needs 50)
        //   └ M1 ─ SF1 ─ SF2 ─┐
        //   PL ───────────────┴ M2      Our next event must follow M2 alone, not M2 and M1 (Synapse issue 5269).
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var mallory = await RemoteRoomMember.JoinAsync(Server, Remote, await CreateRoomAsync(alice));
        var restricted = await RestrictAsync(alice, mallory.RoomId, "test.sf");
        var plEvent = await ReceivedPduAsync(p => p.GetProperty("type").GetString() == "m.room.power_levels" && RemoteRoomMember.Id(JsonNode.Parse(p.GetRawText())!.AsObject()) == restricted);
        var pl = JsonNode.Parse(plEvent.GetRawText())!.AsObject();

        var m1 = await mallory.SendAcknowledgedAsync(mallory.Message("M1"));
        var sf1 = await mallory.SendAcknowledgedAsync(mallory.Event("test.sf", new JsonObject { ["body"] = "SF1" }, m1));
        var sf2 = await mallory.SendAcknowledgedAsync(mallory.Event("test.sf", new JsonObject { ["body"] = "SF2" }, sf1));
        var m2Template = mallory.Message("M2", pl, sf2);
        m2Template["auth_events"] = new JsonArray(mallory.CreateId, restricted, mallory.JoinId);
        var m2 = await mallory.SendAcknowledgedAsync(m2Template);

        var timeline = (await RemoteRoomMember.TimelineAsync(alice, mallory.RoomId)).Select(e => e.GetProperty("event_id").GetString()).ToList();
        timeline.Should().Contain([RemoteRoomMember.Id(m1), RemoteRoomMember.Id(m2)]).And.NotContain([RemoteRoomMember.Id(sf1), RemoteRoomMember.Id(sf2)]);

        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(mallory.RoomId)}/send/m.room.message/m3", new { msgtype = "m.text", body = "m3" })).EnsureOk();
        var m3 = await ReceivedPduAsync(p => IsMessage(p, "m3"));
        m3.GetProperty("prev_events").EnumerateArray().Select(e => e.GetString()).Should().Equal(RemoteRoomMember.Id(m2));
    }

    [Fact]
    public async Task A_redaction_by_a_user_without_the_redact_level_of_another_servers_event_is_neither_applied_nor_shown()
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var mallory = await RemoteRoomMember.JoinAsync(Server, Remote, await CreateRoomAsync(alice));
        var target = (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(mallory.RoomId)}/send/m.room.message/t1", new { msgtype = "m.text", body = "keep me" })).EnsureOk().Json.GetProperty("event_id").GetString()!;
        var targetPdu = JsonNode.Parse((await ReceivedPduAsync(p => IsMessage(p, "keep me"))).GetRawText())!.AsObject();

        var redaction = mallory.Event("m.room.redaction", new JsonObject { ["redacts"] = target }, targetPdu);
        redaction["redacts"] = target;
        var sent = await mallory.SendAcknowledgedAsync(redaction);

        var original = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(mallory.RoomId)}/event/{Esc(target)}")).EnsureOk().Json;
        original.GetProperty("content").GetProperty("body").GetString().Should().Be("keep me");
        (await RemoteRoomMember.TimelineAsync(alice, mallory.RoomId)).Should().NotContain(e => e.GetProperty("event_id").GetString() == RemoteRoomMember.Id(sent));
    }

    [Fact]
    public async Task A_redaction_of_an_event_in_another_room_is_neither_applied_nor_shown()
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var mallory = await RemoteRoomMember.JoinAsync(Server, Remote, await CreateRoomAsync(alice));
        var elsewhere = await RemoteRoomMember.JoinAsync(Server, Remote, await CreateRoomAsync(alice), mallory.UserId);
        var message = await mallory.SendAcknowledgedAsync(mallory.Message("hi"));

        var redaction = elsewhere.Event("m.room.redaction", new JsonObject { ["redacts"] = RemoteRoomMember.Id(message) });
        redaction["redacts"] = RemoteRoomMember.Id(message);
        var sent = await elsewhere.SendAcknowledgedAsync(redaction);
        await elsewhere.SendAcknowledgedAsync(elsewhere.Message("sentinel", sent));

        var bodies = await RemoteRoomMember.BodiesAsync(alice, elsewhere.RoomId);
        bodies.Should().Contain("sentinel");
        (await RemoteRoomMember.TimelineAsync(alice, elsewhere.RoomId)).Should().NotContain(e => e.GetProperty("event_id").GetString() == RemoteRoomMember.Id(sent));
        (await RemoteRoomMember.BodiesAsync(alice, mallory.RoomId)).Should().Contain("hi");
    }

    [Fact]
    public async Task A_users_redaction_of_their_own_event_over_federation_is_applied_and_names_itself_in_redacted_by()
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var mallory = await RemoteRoomMember.JoinAsync(Server, Remote, await CreateRoomAsync(alice));
        var message = await mallory.SendAcknowledgedAsync(mallory.Message("regret"));
        var redaction = mallory.Event("m.room.redaction", new JsonObject { ["redacts"] = RemoteRoomMember.Id(message) }, message);
        redaction["redacts"] = RemoteRoomMember.Id(message);
        var sent = await mallory.SendAcknowledgedAsync(redaction);

        var timeline = await RemoteRoomMember.TimelineAsync(alice, mallory.RoomId);
        timeline[0].GetProperty("event_id").GetString().Should().Be(RemoteRoomMember.Id(sent));
        var redacted = timeline.Single(e => e.GetProperty("event_id").GetString() == RemoteRoomMember.Id(message));
        redacted.GetProperty("content").EnumerateObject().Should().BeEmpty();
        redacted.GetProperty("unsigned").GetProperty("redacted_by").GetString().Should().Be(RemoteRoomMember.Id(sent));
        redacted.GetProperty("unsigned").GetProperty("redacted_because").GetProperty("event_id").GetString().Should().Be(RemoteRoomMember.Id(sent));
    }

    // Room version 1 lists auth events as [ID, hashes] pairs, later versions as IDs: the sender finds the rescinded
    // invite among them in the event's JSON either way.
    [Theory]
    [InlineData("10")]
    [InlineData("1")]
    public async Task An_invite_reaches_a_server_not_in_the_room_through_invite_only_and_its_rescission_through_a_transaction(string version)
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "private_chat", room_version = version })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        var bob = $"@bob{Guid.NewGuid():N}"[..12] + ":" + Remote.ServerName;
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/invite", new { user_id = bob })).EnsureOk();
        Remote.ReceivedInvites.Should().Contain(e => e.GetProperty("room_id").GetString() == roomId && e.GetProperty("state_key").GetString() == bob);

        // Rescinding the invite (a leave by alice) must reach bob's server, and the invite itself must not come with it:
        // that server is not in the room and may not even know it (as Synapse, which sends to the servers in the room
        // before the event, plus the invitee's on a rescinded invite).
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/kick", new { user_id = bob })).EnsureOk();
        var leave = await ReceivedPduAsync(p => p.GetProperty("room_id").GetString() == roomId && p.GetProperty("type").GetString() == "m.room.member"
            && p.GetProperty("content").GetProperty("membership").GetString() == "leave");
        leave.GetProperty("state_key").GetString().Should().Be(bob);
        Remote.ReceivedTransactions
            .SelectMany(t => t.TryGetProperty("pdus", out var pdus) ? pdus.EnumerateArray() : Enumerable.Empty<JsonElement>())
            .Where(p => p.GetProperty("room_id").GetString() == roomId)
            .Should().ContainSingle("only the rescission goes out by transaction");
    }

    [Fact]
    public async Task A_backfilled_event_whose_prev_event_is_in_another_room_is_rejected_and_pagination_stays_in_the_room()
    {
        // room 1: P.  room 2: Q (prev: P, in room 1) - R - S. S is pushed, R comes by get_missing_events, Q (the state
        // before R) by /state_ids and /event and is stored as an outlier; paging back backfills Q, which must then be
        // rejected in place, and P must not show up in room 2 (SyTest's cross-room back-pagination case).
        var (alice, inRoom2, qTemplate) = await CrossRoomAsync("event P", "event Q");
        var room2 = inRoom2.RoomId;
        var q = Remote.SignEvent(qTemplate, RoomVersion.V10);
        var r = Remote.SignEvent(inRoom2.Message("event R", q), RoomVersion.V10);
        var stateAnswers = await inRoom2.StateAnswersAsync();
        Remote.Intercept = request => Task.FromResult(request.Path.Value switch
        {
            { } path when path.StartsWith("/_matrix/federation/v1/get_missing_events/", StringComparison.Ordinal) =>
                RemoteRoomMember.Answer(new JsonObject { ["events"] = new JsonArray(r.DeepClone()) }),
            { } path when path == "/_matrix/federation/v1/event/" + RemoteRoomMember.Id(q) => inRoom2.PdusAnswer([q]),
            { } path when path.StartsWith("/_matrix/federation/v1/backfill/", StringComparison.Ordinal) => inRoom2.PdusAnswer([q]),
            _ => stateAnswers(request),
        });
        try
        {
            await inRoom2.SendAcknowledgedAsync(inRoom2.Message("event S", r));
            (await RemoteRoomMember.BodiesAsync(alice, room2)).Should().StartWith(["event S", "event R"]);

            var page = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(room2)}/messages?dir=b&limit=100")).EnsureOk().Json.GetProperty("chunk");
            var bodies = page.EnumerateArray().Select(e => e.GetProperty("content").TryGetProperty("body", out var b) ? b.GetString() : null).OfType<string>().ToList();
            bodies.Should().Equal("event S", "event R");
            var (status, _) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get,
                $"/_matrix/federation/v1/backfill/{Esc(room2)}?v={Esc(RemoteRoomMember.Id(r))}&limit=10");
            status.Should().Be(200);
        }
        finally
        {
            Remote.Intercept = null;
        }
    }

    [Fact]
    public async Task An_event_whose_prev_event_is_in_another_room_does_not_bring_that_rooms_state_along()
    {
        // The state before an event comes from its own room. A pushed event of room 2 that names an event of room 1 as
        // its prev event must not be placed on room 1's state: its name would become room 2's through state resolution.
        var (alice, inRoom2, crossing) = await CrossRoomAsync("in room one", "crossing");
        var room2 = inRoom2.RoomId;

        await inRoom2.SendAcknowledgedAsync(crossing);

        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(room2)}/state/m.room.name/")).Status.Should().Be(System.Net.HttpStatusCode.NotFound, "room 2 has no name");
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(room2)}/joined_members")).EnsureOk().Json.GetProperty("joined")
            .EnumerateObject().Select(m => m.Name).Should().BeEquivalentTo([alice.UserId, inRoom2.UserId]);
        (await RemoteRoomMember.BodiesAsync(alice, room2)).Should().NotContain("crossing");
    }
}
