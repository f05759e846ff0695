using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Crypto;
using Homeserver.TestKit;
using Microsoft.AspNetCore.Http;

namespace Homeserver.Host.Tests;

/// <summary>
/// Server ACLs and the membership handshakes (make/send join, leave, invite) as another server sees them, and as our
/// server answers its clients when the other server refuses (the behaviour SyTest's federation tests expect).
/// </summary>
public sealed class FederationHandshakeTests(ServerWithFakeRemote fixture) : IClassFixture<ServerWithFakeRemote>
{
    private FederatedTestServer Server => fixture.Server;

    private FakeRemoteServer Remote => fixture.Remote;

    private static string Esc(string s) => Uri.EscapeDataString(s);

    private string RemoteUser(string name) => $"@{name}{Guid.NewGuid():N}"[..20] + ":" + Remote.ServerName;

    private async Task<(MatrixClient Alice, string RoomId)> PublicRoomAsync(string version = "10")
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat", room_version = version })).EnsureOk()
            .Json.GetProperty("room_id").GetString()!;
        return (alice, roomId);
    }

    /// <summary>make_join then send_join (v2) of a user of the fake server; returns the state and the completed join.</summary>
    private async Task<(JsonElement State, JsonObject Join)> JoinAsync(string roomId, string user)
    {
        var (status, template) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/make_join/{Esc(roomId)}/{Esc(user)}?ver=10");
        status.Should().Be(200, template.ToString());
        var join = Remote.SignEvent(JsonNode.Parse(template.GetProperty("event").GetRawText())!.AsObject(), RoomVersion.V10);
        var (sendStatus, sent) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put,
            $"/_matrix/federation/v2/send_join/{Esc(roomId)}/{Esc(FakeRemoteServer.EventId(join, RoomVersion.V10))}", join);
        sendStatus.Should().Be(200, sent.ToString());
        return (sent.GetProperty("state"), join);
    }

    private static string IdOf(JsonElement state, string type) =>
        FakeRemoteServer.EventId(JsonNode.Parse(state.EnumerateArray().Single(e => e.GetProperty("type").GetString() == type).GetRawText())!.AsObject(), RoomVersion.V10);

    [Fact]
    public async Task A_server_the_room_acl_denies_is_refused_on_every_room_endpoint_and_its_pdus_get_an_error()
    {
        var (alice, roomId) = await PublicRoomAsync();
        var mallory = RemoteUser("mallory");
        var (state, join) = await JoinAsync(roomId, mallory);
        var joinId = FakeRemoteServer.EventId(join, RoomVersion.V10);
        var room = Esc(roomId);

        // Before the ACL the endpoints answer (an empty get_missing_events body too, as Synapse allows).
        (await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Post, $"/_matrix/federation/v1/get_missing_events/{room}", new JsonObject()))
            .Status.Should().Be(200);
        (await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/state_ids/{room}?event_id={Esc(joinId)}")).Status.Should().Be(200);

        // The port is not part of the match: "localhost" denies the fake server whatever port it listens on.
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{room}/state/m.room.server_acl", new { allow = new[] { "*" }, deny = new[] { "LOCALHOST" } })).EnsureOk();

        (string Method, string Path, JsonNode? Body)[] requests =
        [
            ("GET", $"/_matrix/federation/v1/make_join/{room}/{Esc(RemoteUser("eve"))}?ver=10", null),
            ("GET", $"/_matrix/federation/v1/make_leave/{room}/{Esc(mallory)}", null),
            ("PUT", $"/_matrix/federation/v2/send_join/{room}/{Esc(joinId)}", join),
            ("PUT", $"/_matrix/federation/v1/send_leave/{room}/{Esc(joinId)}", join),
            ("GET", $"/_matrix/federation/v1/state/{room}?event_id={Esc(joinId)}", null),
            ("GET", $"/_matrix/federation/v1/state_ids/{room}?event_id={Esc(joinId)}", null),
            ("GET", $"/_matrix/federation/v1/backfill/{room}?v={Esc(joinId)}&limit=10", null),
            ("GET", $"/_matrix/federation/v1/event_auth/{room}/{Esc(joinId)}", null),
            ("POST", $"/_matrix/federation/v1/get_missing_events/{room}", new JsonObject { ["latest_events"] = new JsonArray(joinId) }),
            ("PUT", $"/_matrix/federation/v2/invite/{room}/{Esc(joinId)}", new JsonObject { ["event"] = join.DeepClone(), ["room_version"] = "10" }),
        ];
        foreach (var (method, path, body) in requests)
        {
            var (status, answer) = await Remote.SendAsync(Server.Client, Server.ServerName, new HttpMethod(method), path, body);
            status.Should().Be(403, $"{method} {path}: {answer}");
            answer.GetProperty("errcode").GetString().Should().Be("M_FORBIDDEN", path);
        }

        // A PDU of the denied server is ignored, with an error for it in the transaction's answer.
        var message = Remote.SignEvent(new JsonObject
        {
            ["type"] = "m.room.message",
            ["room_id"] = roomId,
            ["sender"] = mallory,
            ["content"] = new JsonObject { ["msgtype"] = "m.text", ["body"] = "denied" },
            ["depth"] = join["depth"]!.GetValue<long>() + 1,
            ["prev_events"] = new JsonArray(joinId),
            ["auth_events"] = new JsonArray(IdOf(state, "m.room.create"), IdOf(state, "m.room.power_levels"), joinId),
        }, RoomVersion.V10);
        var txn = new JsonObject { ["origin"] = Remote.ServerName, ["origin_server_ts"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), ["pdus"] = new JsonArray(message) };
        var (sendStatus, sent) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put, $"/_matrix/federation/v1/send/{Guid.NewGuid():N}", txn);
        sendStatus.Should().Be(200, sent.ToString());
        sent.GetProperty("pdus").GetProperty(FakeRemoteServer.EventId(message, RoomVersion.V10)).GetProperty("error").GetString().Should().NotBeNullOrEmpty();
        var page = (await alice.GetAsync($"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50")).EnsureOk().Json;
        page.GetProperty("chunk").EnumerateArray().Should().NotContain(e => e.GetProperty("type").GetString() == "m.room.message");
    }

    [Fact]
    public async Task A_join_of_another_servers_user_or_without_a_valid_signature_is_forbidden()
    {
        var (_, roomId) = await PublicRoomAsync();
        var user = RemoteUser("joiner");
        var (status, template) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/make_join/{Esc(roomId)}/{Esc(user)}?ver=10");
        status.Should().Be(200, template.ToString());
        var unsigned = JsonNode.Parse(template.GetProperty("event").GetRawText())!.AsObject();
        unsigned["origin_server_ts"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // Neither hashed nor signed: refused as unsigned (403), not as malformed.
        var (unsignedStatus, unsignedAnswer) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put,
            $"/_matrix/federation/v1/send_join/{Esc(roomId)}/{Esc(FakeRemoteServer.EventId(unsigned, RoomVersion.V10))}", unsigned);
        unsignedStatus.Should().Be(403, unsignedAnswer.ToString());
        unsignedAnswer.GetProperty("errcode").GetString().Should().Be("M_FORBIDDEN");

        // A join of a user of a third server, whatever its signatures, is not the fake server's to send.
        var other = JsonNode.Parse(template.GetProperty("event").GetRawText())!.AsObject();
        other["sender"] = "@someone:elsewhere.example";
        other["state_key"] = "@someone:elsewhere.example";
        var signed = Remote.SignEvent(other, RoomVersion.V10);
        var (otherStatus, otherAnswer) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put,
            $"/_matrix/federation/v1/send_join/{Esc(roomId)}/{Esc(FakeRemoteServer.EventId(signed, RoomVersion.V10))}", signed);
        otherStatus.Should().Be(403, otherAnswer.ToString());
        otherAnswer.GetProperty("errcode").GetString().Should().Be("M_FORBIDDEN");
    }

    [Fact]
    public async Task Make_join_is_not_found_once_all_our_users_have_left_the_room()
    {
        var (alice, roomId) = await PublicRoomAsync();
        var path = $"/_matrix/federation/v1/make_join/{Esc(roomId)}/{Esc(RemoteUser("late"))}?ver=10";
        (await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, path)).Status.Should().Be(200);

        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/leave", new { })).EnsureOk();

        var (status, answer) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, path);
        status.Should().Be(404, answer.ToString());
        answer.GetProperty("errcode").GetString().Should().Be("M_NOT_FOUND");
    }

    [Fact]
    public async Task An_origin_that_is_not_a_valid_server_name_is_a_bad_request()
    {
        var auth = XMatrixAuthorization.Create("GET", "/_matrix/federation/v1/query/profile?user_id=%40a%3Ab&field=displayname", "localhost:http", Server.ServerName, null, Remote.Key);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/_matrix/federation/v1/query/profile?user_id=%40a%3Ab&field=displayname");
        request.Headers.TryAddWithoutValidation("Authorization", auth.ToHeaderValue());
        using var response = await Server.Client.SendAsync(request);
        ((int)response.StatusCode).Should().Be(400, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task An_invite_into_a_room_we_are_in_is_countersigned_and_left_to_the_transaction_that_brings_it()
    {
        var (_, roomId) = await PublicRoomAsync();
        var mallory = RemoteUser("mallory");
        var (state, join) = await JoinAsync(roomId, mallory);
        var joinId = FakeRemoteServer.EventId(join, RoomVersion.V10);
        var bob = await new MatrixClient(Server.Client).RegisterAsync();

        // Mallory has too little power to invite here: the auth rules judge that when the event comes in a transaction,
        // not on /invite, where we only countersign (as Synapse).
        var invite = Remote.SignEvent(new JsonObject
        {
            ["type"] = "m.room.member",
            ["room_id"] = roomId,
            ["sender"] = mallory,
            ["state_key"] = bob.UserId,
            ["content"] = new JsonObject { ["membership"] = "invite" },
            ["depth"] = join["depth"]!.GetValue<long>() + 1,
            ["prev_events"] = new JsonArray(joinId),
            ["auth_events"] = new JsonArray(IdOf(state, "m.room.create"), IdOf(state, "m.room.power_levels"), IdOf(state, "m.room.join_rules"), joinId),
        }, RoomVersion.V10);
        var (status, answer) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put,
            $"/_matrix/federation/v2/invite/{Esc(roomId)}/{Esc(FakeRemoteServer.EventId(invite, RoomVersion.V10))}",
            new JsonObject { ["event"] = invite, ["room_version"] = "10", ["invite_room_state"] = new JsonArray() });
        status.Should().Be(200, answer.ToString());
        answer.GetProperty("event").GetProperty("signatures").TryGetProperty(Server.ServerName, out _).Should().BeTrue();
    }

    [Fact]
    public async Task A_make_join_refusal_reaches_the_client_with_its_errcode_and_fields()
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var roomId = $"!refused{Guid.NewGuid():N}:{Remote.ServerName}";
        Remote.Intercept = request => Task.FromResult<IResult?>(request.Path.StartsWithSegments("/_matrix/federation/v1/make_join")
            ? Results.Json(new { errcode = "M_INCOMPATIBLE_ROOM_VERSION", error = "y u no upgrade", room_version = "future-version" }, statusCode: 400)
            : null);
        try
        {
            var response = await alice.PostAsync($"/_matrix/client/v3/join/{Esc(roomId)}?server_name={Esc(Remote.ServerName)}", new { });
            ((int)response.Status).Should().Be(400, response.Json.ToString());
            response.Json.GetProperty("errcode").GetString().Should().Be("M_INCOMPATIBLE_ROOM_VERSION");
            response.Json.GetProperty("room_version").GetString().Should().Be("future-version");
        }
        finally
        {
            Remote.Intercept = null;
        }
    }

    [Fact]
    public async Task An_invite_whose_rejection_no_server_takes_is_rejected_locally()
    {
        var bob = await new MatrixClient(Server.Client).RegisterAsync();
        var roomId = $"!unreachable{Guid.NewGuid():N}:{Remote.ServerName}";
        var inviter = RemoteUser("inviter");
        var invite = Remote.SignEvent(new JsonObject
        {
            ["type"] = "m.room.member",
            ["room_id"] = roomId,
            ["sender"] = inviter,
            ["state_key"] = bob.UserId,
            ["content"] = new JsonObject { ["membership"] = "invite" },
            ["depth"] = 5,
            ["prev_events"] = new JsonArray("$prev"),
            ["auth_events"] = new JsonArray("$create", "$power", "$inviter"),
        }, RoomVersion.V10);
        var (status, answer) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put,
            $"/_matrix/federation/v2/invite/{Esc(roomId)}/{Esc(FakeRemoteServer.EventId(invite, RoomVersion.V10))}",
            new JsonObject { ["event"] = invite, ["room_version"] = "10", ["invite_room_state"] = new JsonArray() });
        status.Should().Be(200, answer.ToString());
        var invited = (await bob.GetAsync("/_matrix/client/v3/sync")).EnsureOk().Json;
        invited.GetProperty("rooms").GetProperty("invite").TryGetProperty(roomId, out _).Should().BeTrue();

        Remote.Intercept = request => Task.FromResult<IResult?>(request.Path.StartsWithSegments("/_matrix/federation/v1/make_leave")
            ? Results.Json(new { errcode = "M_UNKNOWN", error = "down for maintenance" }, statusCode: 500)
            : null);
        try
        {
            (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/leave", new { })).EnsureOk();
        }
        finally
        {
            Remote.Intercept = null;
        }

        var sync = (await bob.GetAsync("/_matrix/client/v3/sync?since=" + Esc(invited.GetProperty("next_batch").GetString()!))).EnsureOk().Json;
        sync.GetProperty("rooms").GetProperty("invite").TryGetProperty(roomId, out _).Should().BeFalse();
        var left = sync.GetProperty("rooms").GetProperty("leave").GetProperty(roomId).GetProperty("timeline").GetProperty("events").EnumerateArray().ToList();
        left.Should().Contain(e => e.GetProperty("type").GetString() == "m.room.member" && e.GetProperty("content").GetProperty("membership").GetString() == "leave"
            && e.GetProperty("sender").GetString() == bob.UserId);
    }
}
