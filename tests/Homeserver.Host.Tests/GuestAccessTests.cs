using System.Net;
using System.Text.Json;
using Homeserver.Host.Tests.Accounts;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.RoomTestHelpers;

namespace Homeserver.Host.Tests;

/// <summary>Guest access (client-server API, "Guest Access"): which rooms this server's guests may join, and leaving them.</summary>
public sealed class GuestAccessTests(GuestServer server) : IClassFixture<GuestServer>
{
    [Fact]
    public async Task A_guest_joins_only_rooms_that_allow_guests_and_leaves_when_they_stop()
    {
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var (guest, guestId) = await GuestSteps.RegisterAsync(server.Client);

        // A public room says nothing about guests: they may not join it.
        var closed = await alice.CreateRoomAsync(new { preset = "public_chat" });
        var refused = await guest.PostAsync($"/_matrix/client/v3/rooms/{Esc(closed)}/join", new { });
        refused.Status.Should().Be(HttpStatusCode.Forbidden);
        refused.ErrCode.Should().Be("M_FORBIDDEN");
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(closed)}/state/m.room.member/{Esc(guestId)}")).Status.Should().Be(HttpStatusCode.NotFound);

        var open = await alice.CreateRoomAsync(new
        {
            preset = "public_chat",
            initial_state = new[] { new { type = "m.room.guest_access", state_key = "", content = new { guest_access = "can_join" } } },
        });
        (await guest.PostAsync($"/_matrix/client/v3/rooms/{Esc(open)}/join", new { })).EnsureOk();
        await bob.JoinAsync(open);

        // Withdrawn: the guest leaves (by their own event, as Synapse), the real user stays.
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(open)}/state/m.room.guest_access/", new { guest_access = "forbidden" })).EnsureOk();
        await GuestSteps.ShouldLeaveAsync(alice, open, guestId);
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(open)}/state/m.room.member/{Esc(bob.UserId!)}")).EnsureOk()
            .Json.GetProperty("membership").GetString().Should().Be("join");
        (await guest.PostAsync($"/_matrix/client/v3/rooms/{Esc(open)}/join", new { })).Status.Should().Be(HttpStatusCode.Forbidden);
    }
}

/// <summary>A federating server (TLS, as the fake remote server expects) that lets guests register.</summary>
public sealed class FederatingGuestServer : TestServer
{
    protected override bool UseTls => true;

    protected override Core.Configuration.HomeserverConfig Configure(Core.Configuration.HomeserverConfig config) => config with { AllowGuestAccess = true };
}

/// <summary>Steps the guest-access tests share.</summary>
internal static class GuestSteps
{
    /// <summary>Registers a guest on the server <paramref name="http"/> talks to.</summary>
    public static async Task<(MatrixClient Guest, string UserId)> RegisterAsync(HttpClient http)
    {
        var guest = new MatrixClient(http);
        var registered = (await guest.PostAsync("/_matrix/client/v3/register?kind=guest", new { })).EnsureOk().Json;
        guest.AccessToken = registered.GetProperty("access_token").GetString();
        return (guest, registered.GetProperty("user_id").GetString()!);
    }

    /// <summary>Waits (as <paramref name="viewer"/> sees the room) until the guest has left it by their own event.</summary>
    public static async Task ShouldLeaveAsync(MatrixClient viewer, string roomId, string guestId)
    {
        JsonElement member = default;
        for (var attempt = 0; attempt < 100; attempt++)
        {
            member = (await viewer.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.member/{Esc(guestId)}?format=event")).EnsureOk().Json;
            if (member.GetProperty("content").GetProperty("membership").GetString() == "leave")
            {
                break;
            }

            await Task.Delay(100);
        }

        member.GetProperty("content").GetProperty("membership").GetString().Should().Be("leave");
        member.GetProperty("sender").GetString().Should().Be(guestId);
    }
}

/// <summary>Guest access withdrawn by another server's user: this server's guests still leave.</summary>
public sealed class FederatedGuestAccessTests(ServerWithFakeRemote<FederatingGuestServer> fixture) : IClassFixture<ServerWithFakeRemote<FederatingGuestServer>>
{
    [Fact]
    public async Task Guests_leave_when_a_remote_member_withdraws_guest_access()
    {
        // SyTest's "Guest users are kicked from guest_access rooms on revocation of guest_access over federation". The
        // withdrawal arrives over federation, and the guest-access enforcer reads the room's head when the listener
        // hands it the room: the remote path must publish the new head before it tells its listeners.
        var server = fixture.Server;
        var alice = await new MatrixClient(server.Client).RegisterAsync();
        var malloryId = $"@mallory{Guid.NewGuid():N}"[..16] + ":" + fixture.Remote.ServerName;
        var roomId = await alice.CreateRoomAsync(new
        {
            preset = "public_chat",
            room_version = "10",
            power_level_content_override = new { users = new Dictionary<string, int> { [alice.UserId!] = 100, [malloryId] = 50 } },
            initial_state = new[] { new { type = "m.room.guest_access", state_key = "", content = new { guest_access = "can_join" } } },
        });
        var mallory = await RemoteRoomMember.JoinAsync(server, fixture.Remote, roomId, malloryId);

        var (guest, guestId) = await GuestSteps.RegisterAsync(server.Client);
        (await guest.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/join", new { })).EnsureOk();

        var withdrawal = mallory.Event("m.room.guest_access", new System.Text.Json.Nodes.JsonObject { ["guest_access"] = "forbidden" });
        withdrawal["state_key"] = string.Empty;
        await mallory.SendAcknowledgedAsync(withdrawal);
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.guest_access/")).EnsureOk()
            .Json.GetProperty("guest_access").GetString().Should().Be("forbidden");

        await GuestSteps.ShouldLeaveAsync(alice, roomId, guestId);
    }
}
