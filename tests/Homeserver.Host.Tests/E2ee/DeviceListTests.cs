using Homeserver.Core;
using System.Text.Json.Nodes;
using Homeserver.Core.Streams;
using Homeserver.E2ee;
using Homeserver.TestKit;
using Homeserver.Users;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.Host.Tests.E2ee;

public sealed class DeviceListTests(TestServer server) : IClassFixture<TestServer>
{
    private static async Task<(IReadOnlyList<string> Changed, IReadOnlyList<string> Left)> KeyChangesAsync(TestDevice device, string from, string to)
    {
        var json = (await device.Client.GetAsync($"/_matrix/client/v3/keys/changes?from={Uri.EscapeDataString(from)}&to={Uri.EscapeDataString(to)}")).EnsureOk().Json;
        return (json.GetProperty("changed").EnumerateArray().Select(e => e.GetString()!).ToList(), json.GetProperty("left").EnumerateArray().Select(e => e.GetString()!).ToList());
    }

    [Fact]
    public async Task New_device_keys_reach_the_owner_and_everyone_sharing_a_room_but_nobody_else()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        using var stranger = await server.NewDeviceAsync();
        await alice.ShareRoomAsync(bob);
        var aliceSince = await alice.SyncTokenAsync();
        var bobSince = await bob.SyncTokenAsync();
        var strangerSince = await stranger.SyncTokenAsync();

        using var alice2 = await alice.LoginAgainAsync(server);
        await alice2.UploadDeviceKeysAsync();

        (await alice.SyncAsync(aliceSince)).Changed().Should().Contain(alice.UserId);
        var bobSync = await bob.SyncAsync(bobSince);
        bobSync.Changed().Should().Contain(alice.UserId);
        (await stranger.SyncAsync(strangerSince)).Changed().Should().NotContain(alice.UserId);

        var (changed, left) = await KeyChangesAsync(bob, bobSince, bobSync.GetProperty("next_batch").GetString()!);
        changed.Should().Contain(alice.UserId);
        left.Should().BeEmpty();
    }

    [Fact]
    public async Task A_device_list_change_wakes_a_long_polling_room_member()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        await alice.ShareRoomAsync(bob);
        var since = await bob.SyncTokenAsync(Ephemeral.SyncClient.WithoutPresence);
        var poll = bob.SyncAsync(since, timeout: 20_000, filter: Ephemeral.SyncClient.WithoutPresence);
        await Task.Delay(300);
        poll.IsCompleted.Should().BeFalse();
        await alice.UploadDeviceKeysAsync();
        (await poll).Changed().Should().Contain(alice.UserId);
    }

    [Fact]
    public async Task Joining_a_room_puts_its_members_in_changed_on_both_sides()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        var roomId = await alice.CreateRoomAsync(bob);
        var aliceSince = await alice.SyncTokenAsync();
        var bobSince = await bob.SyncTokenAsync();
        await bob.JoinAsync(roomId);

        (await alice.SyncAsync(aliceSince)).Changed().Should().Contain(bob.UserId);
        (await bob.SyncAsync(bobSince)).Changed().Should().Contain(alice.UserId);
    }

    [Fact]
    public async Task Leaving_the_last_shared_room_puts_the_user_in_left_and_later_changes_are_not_reported()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        var first = await alice.ShareRoomAsync(bob);
        var second = await alice.ShareRoomAsync(bob);
        var since = await alice.SyncTokenAsync();

        await bob.LeaveAsync(first);
        var stillShared = await alice.SyncAsync(since);
        stillShared.Left().Should().NotContain(bob.UserId, "they still share another room");
        since = stillShared.GetProperty("next_batch").GetString()!;

        await bob.LeaveAsync(second);
        var gone = await alice.SyncAsync(since);
        gone.Left().Should().Contain(bob.UserId);
        gone.Changed().Should().NotContain(bob.UserId);
        var (_, left) = await KeyChangesAsync(alice, since, gone.GetProperty("next_batch").GetString()!);
        left.Should().Contain(bob.UserId);

        since = gone.GetProperty("next_batch").GetString()!;
        await bob.UploadDeviceKeysAsync();
        (await alice.SyncAsync(since)).Changed().Should().NotContain(bob.UserId);
    }

    [Fact]
    public async Task The_user_who_leaves_sees_the_others_in_left()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        var roomId = await alice.ShareRoomAsync(bob);
        var since = await bob.SyncTokenAsync();
        await bob.LeaveAsync(roomId);
        (await bob.SyncAsync(since)).Left().Should().Contain(alice.UserId);
    }

    [Fact]
    public async Task Cross_signing_keys_are_a_change_for_room_members_and_the_user_signing_key_only_for_the_owner()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        await alice.ShareRoomAsync(bob);
        using var keys = new TestCrossSigning(alice.UserId);
        var bobSince = await bob.SyncTokenAsync();
        (await alice.Client.PostAsync("/_matrix/client/v3/keys/device_signing/upload", new JsonObject { ["master_key"] = keys.MasterKey(), ["self_signing_key"] = keys.SelfSigningKey() })).EnsureOk();
        var bobSync = await bob.SyncAsync(bobSince);
        bobSync.Changed().Should().Contain(alice.UserId);

        bobSince = bobSync.GetProperty("next_batch").GetString()!;
        var aliceSince = await alice.SyncTokenAsync();
        const string path = "/_matrix/client/v3/keys/device_signing/upload";
        var session = (await alice.Client.PostAsync(path, new JsonObject { ["user_signing_key"] = keys.UserSigningKey() })).Json.GetProperty("session").GetString();
        (await alice.Client.PostAsync(path, new JsonObject
        {
            ["user_signing_key"] = keys.UserSigningKey(),
            ["auth"] = new JsonObject
            {
                ["type"] = "m.login.password",
                ["identifier"] = new JsonObject { ["type"] = "m.id.user", ["user"] = alice.UserId },
                ["password"] = E2eeClientExtensions.Password,
                ["session"] = session,
            },
        })).EnsureOk();
        (await alice.SyncAsync(aliceSince)).Changed().Should().Contain(alice.UserId);
        (await bob.SyncAsync(bobSince)).Changed().Should().NotContain(alice.UserId);
    }

    [Fact]
    public async Task Deleted_devices_lose_their_keys_and_are_a_change()
    {
        using var alice = await server.NewDeviceAsync();
        using var alice2 = await alice.LoginAgainAsync(server);
        using var bob = await server.NewDeviceAsync();
        await alice.ShareRoomAsync(bob);
        await alice2.UploadDeviceKeysAsync();
        await alice2.UploadOneTimeKeysAsync(3);
        var since = await bob.SyncTokenAsync();

        // What the accounts module does when a device is deleted: delete the rows, then tell the E2EE module.
        var deleted = await server.Services.GetRequiredService<ISessionStore>().DeleteDevicesAsync(alice.UserId, [alice2.DeviceId], null, CancellationToken.None);
        deleted.Should().Equal(alice2.DeviceId);
        await server.Services.GetRequiredService<IDeviceListNotifier>().DevicesDeletedAsync(alice.UserId, deleted, CancellationToken.None);

        (await bob.SyncAsync(since)).Changed().Should().Contain(alice.UserId);
        (await bob.QueryAsync(alice.UserId)).GetProperty("device_keys").GetProperty(alice.UserId).TryGetProperty(alice2.DeviceId, out _).Should().BeFalse();
    }

    [Fact]
    public async Task Changes_reported_by_other_modules_reach_room_members()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        await alice.ShareRoomAsync(bob);
        var since = await bob.SyncTokenAsync();
        await server.Services.GetRequiredService<IDeviceListNotifier>().DevicesChangedAsync(alice.UserId, [alice.DeviceId], CancellationToken.None);
        (await bob.SyncAsync(since)).Changed().Should().Contain(alice.UserId);
    }

    [Fact]
    public async Task The_stream_positions_used_by_e2ee_tables_seed_the_allocator_after_a_restart()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        await alice.UploadDeviceKeysAsync();
        (await alice.Client.PutAsync("/_matrix/client/v3/sendToDevice/m.test/seed", new JsonObject
        {
            ["messages"] = new JsonObject { [bob.UserId] = new JsonObject { [bob.DeviceId] = new JsonObject() } },
        })).EnsureOk();

        // The to-device message was the last write: the E2EE tables alone must bring a fresh allocator up to it.
        var current = server.Services.GetRequiredService<StreamPositions>().Current;
        var fresh = new StreamPositions();
        await server.Services.GetRequiredService<Homeserver.Storage.StreamPositionsSeeder>().SeedAsync(fresh, CancellationToken.None);
        fresh.Current.Should().Be(current);
    }

    [Fact]
    public async Task Key_changes_needs_valid_tokens()
    {
        using var alice = await server.NewDeviceAsync();
        var token = await alice.SyncTokenAsync();
        (await alice.Client.GetAsync("/_matrix/client/v3/keys/changes?from=" + token)).ErrCode.Should().Be("M_MISSING_PARAM");
        (await alice.Client.GetAsync($"/_matrix/client/v3/keys/changes?from=garbage&to={token}")).ErrCode.Should().Be("M_INVALID_PARAM");
    }
}
