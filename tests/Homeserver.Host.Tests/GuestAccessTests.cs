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
        var guest = new MatrixClient(server.Client);
        var registered = (await guest.PostAsync("/_matrix/client/v3/register?kind=guest", new { })).EnsureOk().Json;
        guest.AccessToken = registered.GetProperty("access_token").GetString();
        var guestId = registered.GetProperty("user_id").GetString()!;

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
        JsonElement member = default;
        for (var attempt = 0; attempt < 100; attempt++)
        {
            member = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(open)}/state/m.room.member/{Esc(guestId)}?format=event")).EnsureOk().Json;
            if (member.GetProperty("content").GetProperty("membership").GetString() == "leave")
            {
                break;
            }

            await Task.Delay(100);
        }

        member.GetProperty("content").GetProperty("membership").GetString().Should().Be("leave");
        member.GetProperty("sender").GetString().Should().Be(guestId);
        (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(open)}/state/m.room.member/{Esc(bob.UserId!)}")).EnsureOk()
            .Json.GetProperty("membership").GetString().Should().Be("join");
        (await guest.PostAsync($"/_matrix/client/v3/rooms/{Esc(open)}/join", new { })).Status.Should().Be(HttpStatusCode.Forbidden);
    }
}
