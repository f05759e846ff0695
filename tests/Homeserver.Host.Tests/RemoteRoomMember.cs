using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.TestKit;
using Microsoft.AspNetCore.Http;

namespace Homeserver.Host.Tests;

/// <summary>
/// A user of the fake remote server who joined a room (version 10) of our server through make_join/send_join, and
/// the PDUs the fake server sends for that user.
/// </summary>
internal sealed record RemoteRoomMember(TestServer Server, FakeRemoteServer Remote, string RoomId, string UserId, JsonObject Join, string CreateId, string PowerLevelsId)
{
    private static string Esc(string s) => Uri.EscapeDataString(s);

    public string JoinId => Id(Join);

    /// <summary>What a member's events cite by default: the create event, the power levels and the member's own join.</summary>
    public JsonArray AuthEvents => new(CreateId, PowerLevelsId, JoinId);

    public static string Id(JsonObject pdu) => FakeRemoteServer.EventId(pdu, RoomVersion.V10);

    /// <summary>Makes a fresh user of the fake server join <paramref name="roomId"/> (which must let them).</summary>
    public static async Task<RemoteRoomMember> JoinAsync(TestServer server, FakeRemoteServer remote, string roomId, string? userId = null)
    {
        var mallory = userId ?? $"@mallory{Guid.NewGuid():N}"[..16] + ":" + remote.ServerName;
        var (status, template) = await remote.SendAsync(server.Client, server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/make_join/{Esc(roomId)}/{Esc(mallory)}?ver=10");
        status.Should().Be(200, template.ToString());
        var join = remote.SignEvent(JsonNode.Parse(template.GetProperty("event").GetRawText())!.AsObject(), RoomVersion.V10);
        var (sendStatus, sent) = await remote.SendAsync(server.Client, server.ServerName, HttpMethod.Put, $"/_matrix/federation/v2/send_join/{Esc(roomId)}/{Esc(Id(join))}", join);
        sendStatus.Should().Be(200, sent.ToString());
        var state = sent.GetProperty("state").EnumerateArray().ToList();
        string IdOf(string type) => Id(JsonNode.Parse(state.Single(e => e.GetProperty("type").GetString() == type).GetRawText())!.AsObject());
        return new RemoteRoomMember(server, remote, roomId, mallory, join, IdOf("m.room.create"), IdOf("m.room.power_levels"));
    }

    /// <summary>An unsigned event of this member after <paramref name="prevs"/> (the join when none are given).</summary>
    public JsonObject Event(string type, JsonObject content, params JsonObject[] prevs)
    {
        var after = prevs.Length == 0 ? [Join] : prevs;
        return new JsonObject
        {
            ["type"] = type,
            ["room_id"] = RoomId,
            ["sender"] = UserId,
            ["content"] = content,
            ["depth"] = after.Max(p => p["depth"]!.GetValue<long>()) + 1,
            ["prev_events"] = new JsonArray([.. after.Select(p => (JsonNode)Id(p))]),
            ["auth_events"] = AuthEvents,
        };
    }

    public JsonObject Message(string body, params JsonObject[] prevs) =>
        Event("m.room.message", new JsonObject { ["msgtype"] = "m.text", ["body"] = body }, prevs);

    /// <summary>Sends one PDU in a transaction and returns the answer's <c>pdus</c> map.</summary>
    public async Task<JsonElement> SendAsync(JsonObject pdu)
    {
        var txn = new JsonObject
        {
            ["origin"] = Remote.ServerName,
            ["origin_server_ts"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            ["pdus"] = new JsonArray(pdu.DeepClone()),
        };
        var (status, answer) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put, $"/_matrix/federation/v1/send/{Guid.NewGuid():N}", txn);
        status.Should().Be(200, answer.ToString());
        return answer.GetProperty("pdus");
    }

    /// <summary>Signs and sends <paramref name="pdu"/> and asserts that our server answered <c>{}</c> for it.</summary>
    public async Task<JsonObject> SendAcknowledgedAsync(JsonObject pdu)
    {
        var signed = Remote.SignEvent(pdu, RoomVersion.V10);
        var result = await SendAsync(signed);
        var id = Id(signed);
        result.TryGetProperty(id, out var outcome).Should().BeTrue(result.ToString());
        outcome.EnumerateObject().Should().BeEmpty("a PDU that was processed is acknowledged with {} whatever our checks made of it");
        return signed;
    }

    /// <summary>The room's timeline as <paramref name="viewer"/> sees it through /messages, most recent first.</summary>
    public static async Task<List<JsonElement>> TimelineAsync(MatrixClient viewer, string roomId)
    {
        var page = (await viewer.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&limit=100")).EnsureOk().Json;
        return page.GetProperty("chunk").EnumerateArray().ToList();
    }

    public static async Task<List<string>> BodiesAsync(MatrixClient viewer, string roomId) =>
        (await TimelineAsync(viewer, roomId))
            .Where(e => e.GetProperty("type").GetString() == "m.room.message")
            .Select(e => e.GetProperty("content").TryGetProperty("body", out var b) ? b.GetString()! : "<no body>")
            .ToList();

    /// <summary>
    /// How the fake server answers our server's questions about the state before an event of this member that it has not
    /// sent: <c>/state_ids</c> gives the state at the member's join (the join included), <c>/state</c> nothing (so the
    /// events we lack are fetched one by one with <c>/event</c>). Null for any other request.
    /// </summary>
    public async Task<Func<HttpRequest, IResult?>> StateAnswersAsync()
    {
        var (_, atJoin) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get,
            $"/_matrix/federation/v1/state_ids/{Esc(RoomId)}?event_id={Esc(JoinId)}");
        var stateIds = new JsonObject
        {
            ["pdu_ids"] = new JsonArray([.. atJoin.GetProperty("pdu_ids").EnumerateArray().Select(e => (JsonNode)e.GetString()!), JoinId]),
            ["auth_chain_ids"] = JsonNode.Parse(atJoin.GetProperty("auth_chain_ids").GetRawText()),
        };
        return request => request.Path.Value switch
        {
            { } path when path.StartsWith("/_matrix/federation/v1/state_ids/", StringComparison.Ordinal) => Answer(stateIds),
            { } path when path.StartsWith("/_matrix/federation/v1/state/", StringComparison.Ordinal) =>
                Answer(new JsonObject { ["pdus"] = new JsonArray(), ["auth_chain"] = new JsonArray() }),
            _ => null,
        };
    }

    /// <summary>PDUs as the fake server's <c>/event</c> and <c>/backfill</c> answer them.</summary>
    public IResult PdusAnswer(IEnumerable<JsonObject> pdus) => Answer(new JsonObject
    {
        ["origin"] = Remote.ServerName,
        ["origin_server_ts"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        ["pdus"] = new JsonArray([.. pdus.Select(p => (JsonNode)p.DeepClone())]),
    });

    /// <summary>A JSON answer of the fake server.</summary>
    public static IResult Answer(JsonNode body) => Results.Text(body.ToJsonString(), "application/json");
}
