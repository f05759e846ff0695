using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

public sealed class FederationSafetyFixture : IAsyncLifetime
{
    public FederatedTestServer Server { get; } = new();

    public FakeRemoteServer Remote { get; } = new();

    public async Task InitializeAsync()
    {
        await Remote.InitializeAsync();
        await Server.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Remote.DisposeAsync();
    }
}

/// <summary>What another server sends is verified before it is believed: bad signatures, bad hashes and failed auth rules.</summary>
public sealed class FederationSafetyTests(FederationSafetyFixture fixture) : IClassFixture<FederationSafetyFixture>
{
    private FederatedTestServer Server => fixture.Server;

    private FakeRemoteServer Remote => fixture.Remote;

    private static string Esc(string s) => Uri.EscapeDataString(s);

    /// <summary>A public room on our server that the fake server's user @mallory has joined through make_join/send_join.</summary>
    private async Task<(MatrixClient Alice, string RoomId, string Mallory, JsonElement LastEvent, JsonArray AuthEvents)> JoinedRoomAsync()
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat", room_version = "10" })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        var mallory = $"@mallory{Guid.NewGuid():N}"[..16] + ":" + Remote.ServerName;
        var (status, template) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/make_join/{Esc(roomId)}/{Esc(mallory)}?ver=10");
        status.Should().Be(200, template.ToString());
        var join = Remote.SignEvent(JsonNode.Parse(template.GetProperty("event").GetRawText())!.AsObject(), RoomVersion.V10);
        var joinId = FakeRemoteServer.EventId(join, RoomVersion.V10);
        var (sendStatus, sent) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put, $"/_matrix/federation/v2/send_join/{Esc(roomId)}/{Esc(joinId)}", join);
        sendStatus.Should().Be(200, sent.ToString());
        var state = sent.GetProperty("state").EnumerateArray().ToList();
        state.Should().Contain(e => e.GetProperty("type").GetString() == "m.room.create");
        string IdOf(string type) => FakeRemoteServer.EventId(JsonNode.Parse(state.Single(e => e.GetProperty("type").GetString() == type).GetRawText())!.AsObject(), RoomVersion.V10);

        // A member's messages cite the create event, the power levels and the member's own join.
        var auth = new JsonArray(IdOf("m.room.create"), IdOf("m.room.power_levels"), joinId);
        return (alice, roomId, mallory, JsonSerializer.SerializeToElement(join), auth);
    }

    private static JsonObject Message(string roomId, string sender, JsonElement prev, JsonArray auth, string body) => new()
    {
        ["type"] = "m.room.message",
        ["room_id"] = roomId,
        ["sender"] = sender,
        ["content"] = new JsonObject { ["msgtype"] = "m.text", ["body"] = body },
        ["depth"] = prev.GetProperty("depth").GetInt64() + 1,
        ["prev_events"] = new JsonArray(FakeRemoteServer.EventId(JsonNode.Parse(prev.GetRawText())!.AsObject(), RoomVersion.V10)),
        ["auth_events"] = auth.DeepClone(),
    };

    private async Task<JsonElement> SendPduAsync(JsonObject pdu)
    {
        var txn = new JsonObject
        {
            ["origin"] = Remote.ServerName,
            ["origin_server_ts"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            ["pdus"] = new JsonArray(pdu),
        };
        var (status, answer) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put, $"/_matrix/federation/v1/send/{Guid.NewGuid():N}", txn);
        status.Should().Be(200, answer.ToString());
        return answer.GetProperty("pdus");
    }

    private static async Task<List<string>> BodiesAsync(MatrixClient alice, string roomId)
    {
        var page = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&limit=100")).EnsureOk().Json;
        return page.GetProperty("chunk").EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() == "m.room.message")
            .Select(e => e.GetProperty("content").TryGetProperty("body", out var b) ? b.GetString()! : "<no body>")
            .ToList();
    }

    [Fact]
    public async Task A_correctly_signed_pdu_from_a_member_server_is_accepted_and_shown()
    {
        var (alice, roomId, mallory, join, auth) = await JoinedRoomAsync();
        var pdu = Remote.SignEvent(Message(roomId, mallory, join, auth, "legitimate"), RoomVersion.V10);
        var result = await SendPduAsync(pdu);
        result.GetProperty(FakeRemoteServer.EventId(pdu, RoomVersion.V10)).TryGetProperty("error", out var error).Should().BeFalse(error.ToString());
        (await BodiesAsync(alice, roomId)).Should().Contain("legitimate");
    }

    [Fact]
    public async Task A_pdu_with_a_bad_signature_is_rejected_and_never_shown()
    {
        var (alice, roomId, mallory, join, auth) = await JoinedRoomAsync();
        var pdu = Remote.SignEvent(Message(roomId, mallory, join, auth, "forged"), RoomVersion.V10);
        var sigs = pdu["signatures"]![Remote.ServerName]!.AsObject();
        var keyId = sigs.First().Key;
        var sig = sigs[keyId]!.GetValue<string>();
        sigs[keyId] = (sig[0] == 'A' ? "B" : "A") + sig[1..];
        var result = await SendPduAsync(pdu);
        result.GetProperty(FakeRemoteServer.EventId(pdu, RoomVersion.V10)).GetProperty("error").GetString().Should().Contain("signature");
        (await BodiesAsync(alice, roomId)).Should().NotContain("forged");
    }

    [Fact]
    public async Task A_pdu_whose_content_hash_fails_is_stored_redacted_so_its_content_is_never_shown()
    {
        var (alice, roomId, mallory, join, auth) = await JoinedRoomAsync();
        var pdu = Remote.SignEvent(Message(roomId, mallory, join, auth, "original"), RoomVersion.V10);
        pdu["content"]!["body"] = "tampered after signing";
        await SendPduAsync(pdu);
        var bodies = await BodiesAsync(alice, roomId);
        bodies.Should().NotContain("tampered after signing").And.NotContain("original");
    }

    [Fact]
    public async Task A_pdu_that_fails_the_auth_rules_is_rejected_and_does_not_change_state()
    {
        var (alice, roomId, mallory, join, auth) = await JoinedRoomAsync();
        var takeover = Message(roomId, mallory, join, auth, "ignored");
        takeover["type"] = "m.room.power_levels";
        takeover["state_key"] = string.Empty;
        takeover["content"] = new JsonObject { ["users"] = new JsonObject { [mallory] = 100 } };
        var pdu = Remote.SignEvent(takeover, RoomVersion.V10);
        var result = await SendPduAsync(pdu);
        result.GetProperty(FakeRemoteServer.EventId(pdu, RoomVersion.V10)).GetProperty("error").GetString().Should().NotBeNullOrEmpty();
        var levels = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.power_levels")).EnsureOk().Json;
        levels.GetProperty("users").TryGetProperty(mallory, out _).Should().BeFalse();
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
