using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

/// <summary>What another server sends is verified before it is believed: bad signatures, bad hashes and failed auth rules.</summary>
public sealed class FederationSafetyTests(ServerWithFakeRemote fixture) : IClassFixture<ServerWithFakeRemote>
{
    private FederatedTestServer Server => fixture.Server;

    private FakeRemoteServer Remote => fixture.Remote;

    private static string Esc(string s) => Uri.EscapeDataString(s);

    /// <summary>A public room on our server that a user of the fake server has joined through make_join/send_join.</summary>
    private async Task<(MatrixClient Alice, RemoteRoomMember Mallory)> JoinedRoomAsync()
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat", room_version = "10" })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        return (alice, await RemoteRoomMember.JoinAsync(Server, Remote, roomId));
    }

    [Fact]
    public async Task A_correctly_signed_pdu_from_a_member_server_is_accepted_and_shown()
    {
        var (alice, mallory) = await JoinedRoomAsync();
        await mallory.SendAcknowledgedAsync(mallory.Message("legitimate"));
        (await RemoteRoomMember.BodiesAsync(alice, mallory.RoomId)).Should().Contain("legitimate");
    }

    [Fact]
    public async Task A_pdu_with_a_bad_signature_is_refused_with_an_error_and_never_shown()
    {
        var (alice, mallory) = await JoinedRoomAsync();
        var pdu = Remote.SignEvent(mallory.Message("forged"), RoomVersion.V10);
        var sigs = pdu["signatures"]![Remote.ServerName]!.AsObject();
        var keyId = sigs.First().Key;
        var sig = sigs[keyId]!.GetValue<string>();
        sigs[keyId] = (sig[0] == 'A' ? "B" : "A") + sig[1..];
        var result = await mallory.SendAsync(pdu);
        result.GetProperty(RemoteRoomMember.Id(pdu)).GetProperty("error").GetString().Should().Contain("signature");
        (await RemoteRoomMember.BodiesAsync(alice, mallory.RoomId)).Should().NotContain("forged");
    }

    [Fact]
    public async Task A_pdu_whose_content_hash_fails_is_stored_redacted_so_its_content_is_never_shown()
    {
        var (alice, mallory) = await JoinedRoomAsync();
        var pdu = Remote.SignEvent(mallory.Message("original"), RoomVersion.V10);
        pdu["content"]!["body"] = "tampered after signing";
        await mallory.SendAsync(pdu);
        var bodies = await RemoteRoomMember.BodiesAsync(alice, mallory.RoomId);
        bodies.Should().NotContain("tampered after signing").And.NotContain("original");
    }

    [Fact]
    public async Task A_pdu_that_fails_the_auth_rules_is_acknowledged_but_stored_as_rejected_without_state_or_effect()
    {
        var (alice, mallory) = await JoinedRoomAsync();
        var takeover = mallory.Event("m.room.power_levels", new JsonObject { ["users"] = new JsonObject { [mallory.UserId] = 100 } });
        takeover["state_key"] = string.Empty;

        // As Synapse: the sender hears {} (the PDU was processed); the rejection is ours alone.
        var rejected = await mallory.SendAcknowledgedAsync(takeover);
        var levels = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(mallory.RoomId)}/state/m.room.power_levels")).EnsureOk().Json;
        levels.GetProperty("users").TryGetProperty(mallory.UserId, out _).Should().BeFalse();

        // A rejected event has no state: /state and /state_ids at it are 404, as for an event we do not have.
        foreach (var endpoint in new[] { "state", "state_ids" })
        {
            var (status, error) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/{endpoint}/{Esc(mallory.RoomId)}?event_id={Esc(RemoteRoomMember.Id(rejected))}");
            status.Should().Be(404, error.ToString());
            error.GetProperty("errcode").GetString().Should().Be("M_NOT_FOUND");
        }

        (await RemoteRoomMember.TimelineAsync(alice, mallory.RoomId)).Should().NotContain(e => e.GetProperty("event_id").GetString() == RemoteRoomMember.Id(rejected));
    }

    [Fact]
    public async Task The_events_of_a_user_who_deactivated_with_erasure_are_served_to_other_servers_redacted()
    {
        var (alice, mallory) = await JoinedRoomAsync();
        var witness = await new MatrixClient(Server.Client).RegisterAsync();
        (await witness.PostAsync($"/_matrix/client/v3/join/{Esc(mallory.RoomId)}", new { })).EnsureOk();
        var eventId = (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(mallory.RoomId)}/send/m.room.message/e1", new { msgtype = "m.text", body = "forget me" }))
            .EnsureOk().Json.GetProperty("event_id").GetString()!;
        async Task<JsonElement> FetchAsync()
        {
            var (status, answer) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/event/{Esc(eventId)}");
            status.Should().Be(200, answer.ToString());
            return answer.GetProperty("pdus")[0];
        }

        (await FetchAsync()).GetProperty("content").GetProperty("body").GetString().Should().Be("forget me");

        (await Accounts.AccountTestKit.WithPasswordAsync(alice, HttpMethod.Post, "/_matrix/client/v3/account/deactivate", new JsonObject { ["erase"] = true })).EnsureOk();

        var redacted = await FetchAsync();
        redacted.GetProperty("content").TryGetProperty("body", out _).Should().BeFalse();
        RemoteRoomMember.Id(JsonNode.Parse(redacted.GetRawText())!.AsObject()).Should().Be(eventId, "the redacted event keeps its ID and signatures");
    }

    [Fact]
    public async Task Federation_media_download_answers_multipart_with_metadata_and_content()
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        using var upload = new HttpRequestMessage(HttpMethod.Post, "/_matrix/media/v3/upload?filename=note.txt");
        upload.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", alice.AccessToken);
        upload.Content = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes("for another server"));
        upload.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/plain");
        using var uploaded = await Server.Client.SendAsync(upload);
        var uri = JsonDocument.Parse(await uploaded.Content.ReadAsStringAsync()).RootElement.GetProperty("content_uri").GetString()!;
        var mediaId = uri.Split('/')[^1];

        using var response = await Remote.SendRawAsync(Server.Client, Server.ServerName, HttpMethod.Get, "/_matrix/federation/v1/media/download/" + mediaId);
        ((int)response.StatusCode).Should().Be(200);
        response.Content.Headers.ContentType!.MediaType.Should().Be("multipart/mixed");
        var boundary = response.Content.Headers.ContentType.Parameters.Single(p => p.Name == "boundary").Value!;
        var body = await response.Content.ReadAsByteArrayAsync();
        response.Content.Headers.ContentLength.Should().Be(body.Length);
        var text = System.Text.Encoding.UTF8.GetString(body);
        text.Should().StartWith($"--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n--{boundary}\r\n");
        text.Should().Contain("Content-Disposition: inline; filename=note.txt\r\n\r\nfor another server\r\n");
        text.Should().EndWith($"--{boundary}--\r\n");
    }

    [Fact]
    public async Task A_request_signed_with_the_wrong_key_is_401()
    {
        using var other = Homeserver.Crypto.Ed25519SigningKey.Generate("fake");
        var auth = Homeserver.Crypto.XMatrixAuthorization.Create("GET", "/_matrix/federation/v1/query/profile?user_id=%40x%3Ay", Remote.ServerName, Server.ServerName, null, other);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/_matrix/federation/v1/query/profile?user_id=%40x%3Ay");
        request.Headers.TryAddWithoutValidation("Authorization", auth.ToHeaderValue());
        var response = await Server.Client.SendAsync(request);
        ((int)response.StatusCode).Should().Be(401);
    }

    [Fact]
    public async Task An_invite_through_the_deprecated_v1_api_is_co_signed_answered_as_v1_and_shown_with_its_stripped_state()
    {
        var bob = await new MatrixClient(Server.Client).RegisterAsync();
        var roomId = $"!v1invite{Guid.NewGuid():N}:{Remote.ServerName}";
        var eventId = $"${Guid.NewGuid():N}:{Remote.ServerName}";
        var sender = $"@mallory:{Remote.ServerName}";
        var invite = Remote.SignEvent(new JsonObject
        {
            ["event_id"] = eventId,
            ["room_id"] = roomId,
            ["type"] = "m.room.member",
            ["state_key"] = bob.UserId,
            ["sender"] = sender,
            ["content"] = new JsonObject { ["membership"] = "invite" },
            ["depth"] = 5,
            ["prev_events"] = new JsonArray(),
            ["auth_events"] = new JsonArray(),
        }, RoomVersion.V1);
        invite["unsigned"] = new JsonObject
        {
            ["invite_room_state"] = new JsonArray(new JsonObject
            {
                ["type"] = "m.room.name", ["state_key"] = "", ["sender"] = sender, ["content"] = new JsonObject { ["name"] = "Old style" },
            }),
        };

        var (status, answer) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put, $"/_matrix/federation/v1/invite/{Esc(roomId)}/{Esc(eventId)}", invite);
        status.Should().Be(200, answer.ToString());
        answer.ValueKind.Should().Be(JsonValueKind.Array);
        answer[0].GetInt32().Should().Be(200);
        answer[1].GetProperty("event").GetProperty("signatures").TryGetProperty(Server.ServerName, out _).Should().BeTrue("we co-sign the invite");

        var sync = (await bob.GetAsync("/_matrix/client/v3/sync")).EnsureOk().Json;
        sync.GetProperty("rooms").GetProperty("invite").GetProperty(roomId).GetProperty("invite_state").GetProperty("events").EnumerateArray()
            .Should().Contain(e => e.GetProperty("type").GetString() == "m.room.name");

        // The same invite through v1 with a body that is not an event is refused, not a 500.
        var (badStatus, _) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put, $"/_matrix/federation/v1/invite/{Esc(roomId)}/{Esc(eventId)}", new JsonArray(1, 2));
        badStatus.Should().Be(400);
    }
}
