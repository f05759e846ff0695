using System.Text.Json;
using Homeserver.Core;
using Homeserver.Crypto;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Ephemeral.SyncClient;

namespace Homeserver.Host.Tests;

/// <summary>
/// The room's writer builds our events without a signature and they are signed as they leave (EventFactory.BuildLocal):
/// whatever way another server gets one of our events, it carries a signature our published key verifies.
/// </summary>
public sealed class OutboundSignatureTests(ServerWithFakeRemote fixture) : IClassFixture<ServerWithFakeRemote>
{
    private FederatedTestServer Server => fixture.Server;

    private FakeRemoteServer Remote => fixture.Remote;

    private static string Esc(string s) => Uri.EscapeDataString(s);

    private async Task<JsonElement> ReceivedPduAsync(string eventId)
    {
        for (var i = 0; i < 300; i++)
        {
            foreach (var pdu in Remote.ReceivedTransactions.SelectMany(t => t.TryGetProperty("pdus", out var pdus) ? pdus.EnumerateArray() : Enumerable.Empty<JsonElement>()))
            {
                if (EventHashing.GetEventId(pdu, RoomVersion.V10) == eventId)
                {
                    return pdu;
                }
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("The fake server was never sent " + eventId);
    }

    [Fact]
    public async Task Our_events_reach_another_server_signed_in_transactions_and_when_it_asks_for_them()
    {
        var alice = await new MatrixClient(Server.Client).RegisterAsync();
        var roomId = (await alice.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat", room_version = "10" })).EnsureOk()
            .Json.GetProperty("room_id").GetString()!;
        var member = await RemoteRoomMember.JoinAsync(Server, Remote, roomId);
        var eventId = await alice.SendTextAsync(roomId, "signed on the way out");

        // Pushed in a transaction.
        var pushed = await ReceivedPduAsync(eventId);
        pushed.GetProperty("content").GetProperty("body").GetString().Should().Be("signed on the way out");
        (await OurSignature.VerifiesAsync(Server, pushed, RoomVersion.V10)).Should().BeTrue();
        EventHashing.CheckContentHash(pushed).Should().Be(ContentHashCheck.Valid);

        // Fetched: /event, and the room's state (our create event, power levels, alice's join) in /state.
        var (status, fetched) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/event/{Esc(eventId)}");
        status.Should().Be(200, fetched.ToString());
        var single = fetched.GetProperty("pdus").EnumerateArray().Single();
        single.GetRawText().Should().Be(pushed.GetRawText(), "the same event leaves the same way");

        var (stateStatus, state) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/state/{Esc(roomId)}?event_id={Esc(eventId)}");
        stateStatus.Should().Be(200, state.ToString());
        var ours = state.GetProperty("pdus").EnumerateArray().Concat(state.GetProperty("auth_chain").EnumerateArray())
            .Where(e => MatrixId.ServerOf(e.GetProperty("sender").GetString()!) == Server.ServerName).ToList();
        ours.Should().Contain(e => e.GetProperty("type").GetString() == "m.room.create");
        foreach (var pdu in ours)
        {
            (await OurSignature.VerifiesAsync(Server, pdu, RoomVersion.V10)).Should().BeTrue(pdu.GetProperty("type").GetString());
        }

        member.UserId.Should().EndWith(Remote.ServerName);
    }
}
