using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Homeserver.Core;
using Homeserver.Host.Tests.Accounts;
using Homeserver.Host.Tests.E2ee;
using Homeserver.TestKit;
using Microsoft.AspNetCore.Http;

namespace Homeserver.Host.Tests;

/// <summary>
/// A remote user's device list as another server tells it (a fake server, so that it can lie and lose updates): the
/// cache follows m.device_list_update EDUs that build on it, is fetched again after a gap, believes only verified keys
/// from the user's own server, and is forgotten when no local user shares a room with the remote user any more.
/// </summary>
public sealed class RemoteDeviceListTests(ServerWithFakeRemote fixture) : IClassFixture<ServerWithFakeRemote>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private FederatedTestServer Server => fixture.Server;

    private FakeRemoteServer Remote => fixture.Remote;

    private static string Esc(string s) => Uri.EscapeDataString(s);

    private sealed class RemoteUser(string userId) : IDisposable
    {
        public string UserId { get; } = userId;

        public long Version { get; set; }

        public Dictionary<string, (TestSigningKey Key, JsonObject Keys)> Devices { get; } = [];

        public Dictionary<string, string> DisplayNames { get; } = [];

        public JsonObject AddDevice(string deviceId, TestSigningKey? signer = null)
        {
            var key = new TestSigningKey();
            var keys = new JsonObject
            {
                ["user_id"] = UserId,
                ["device_id"] = deviceId,
                ["algorithms"] = new JsonArray("m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"),
                ["keys"] = new JsonObject { ["curve25519:" + deviceId] = TestDevice.RandomKey(), ["ed25519:" + deviceId] = key.PublicKey },
            };
            (signer ?? key).Sign(keys, UserId, "ed25519:" + deviceId);
            if (Devices.TryGetValue(deviceId, out var replaced))
            {
                replaced.Key.Dispose(); // the device's new keys
            }

            Devices[deviceId] = (key, keys);
            return keys;
        }

        public JsonObject Snapshot() => new()
        {
            ["user_id"] = UserId,
            ["stream_id"] = Version,
            ["devices"] = new JsonArray([.. Devices.Select(d =>
            {
                var device = new JsonObject { ["device_id"] = d.Key, ["keys"] = d.Value.Keys.DeepClone() };
                if (DisplayNames.TryGetValue(d.Key, out var name))
                {
                    device["device_display_name"] = name;
                }

                return (JsonNode)device;
            })]),
        };

        public void Dispose()
        {
            foreach (var d in Devices.Values)
            {
                d.Key.Dispose();
            }
        }
    }

    /// <summary>A room on our server with Alice and the fake server's user, joined through make_join/send_join.</summary>
    private async Task<(TestDevice Alice, string RoomId, RemoteUser Mallory)> SharedRoomAsync()
    {
        var alice = await Server.NewDeviceAsync();
        var roomId = (await alice.Client.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat", room_version = "10" })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        var mallory = new RemoteUser($"@mallory{Guid.NewGuid():N}"[..16] + ":" + Remote.ServerName);
        var (status, template) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Get, $"/_matrix/federation/v1/make_join/{Esc(roomId)}/{Esc(mallory.UserId)}?ver=10");
        status.Should().Be(200, template.ToString());
        var join = Remote.SignEvent(JsonNode.Parse(template.GetProperty("event").GetRawText())!.AsObject(), RoomVersion.V10);
        var (sendStatus, sent) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put, $"/_matrix/federation/v2/send_join/{Esc(roomId)}/{Esc(FakeRemoteServer.EventId(join, RoomVersion.V10))}", join);
        sendStatus.Should().Be(200, sent.ToString());
        return (alice, roomId, mallory);
    }

    private async Task SendEduAsync(string type, JsonObject content)
    {
        var txn = new JsonObject
        {
            ["origin"] = Remote.ServerName,
            ["origin_server_ts"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            ["pdus"] = new JsonArray(),
            ["edus"] = new JsonArray(new JsonObject { ["edu_type"] = type, ["content"] = content }),
        };
        var (status, answer) = await Remote.SendAsync(Server.Client, Server.ServerName, HttpMethod.Put, $"/_matrix/federation/v1/send/{Guid.NewGuid():N}", txn);
        status.Should().Be(200, answer.ToString());
    }

    private static JsonObject Update(RemoteUser user, string deviceId, long streamId, long[] prev, JsonObject? keys = null, bool deleted = false)
    {
        var content = new JsonObject
        {
            ["user_id"] = user.UserId,
            ["device_id"] = deviceId,
            ["stream_id"] = streamId,
            ["prev_id"] = new JsonArray([.. prev.Select(p => (JsonNode)JsonValue.Create(p))]),
        };
        if (keys is not null)
        {
            content["keys"] = keys.DeepClone();
        }

        if (deleted)
        {
            content["deleted"] = true;
        }

        return content;
    }

    private static async Task<IReadOnlyList<string>> DevicesAsync(TestDevice viewer, string userId)
    {
        var query = await viewer.QueryAsync(userId);
        return query.GetProperty("device_keys").TryGetProperty(userId, out var devices) ? devices.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList() : [];
    }

    /// <summary>Long-polls <paramref name="viewer"/>'s /sync from <paramref name="since"/> until <paramref name="userId"/> is in <c>device_lists.changed</c>; the next token.</summary>
    private static async Task<string> SyncUntilChangedAsync(TestDevice viewer, string since, string userId)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var sync = await viewer.SyncAsync(since, timeout: 1000);
            since = sync.GetProperty("next_batch").GetString()!;
            if (sync.Changed().Contains(userId))
            {
                return since;
            }

            DateTime.UtcNow.Should().BeBefore(deadline, $"{userId} should appear in device_lists.changed");
        }
    }

    private static async Task<IReadOnlyList<string>> DevicesEventuallyAsync(TestDevice viewer, string userId, params string[] expected)
    {
        var deadline = DateTime.UtcNow + Patience;
        var devices = await DevicesAsync(viewer, userId);
        while (!devices.SequenceEqual(expected.Order(StringComparer.Ordinal)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            devices = await DevicesAsync(viewer, userId);
        }

        return devices;
    }

    [Fact]
    public async Task The_cache_follows_updates_that_build_on_it_refetches_after_a_gap_and_believes_only_verified_keys()
    {
        var (alice, _, mallory) = await SharedRoomAsync();
        using var owned = mallory;
        mallory.AddDevice("D1");
        mallory.Version = 5;
        Remote.UserDevices = u => u == mallory.UserId ? mallory.Snapshot() : null;
        var before = Remote.UserDevicesRequests;

        // First query: the list is fetched with /user/devices and cached.
        (await DevicesAsync(alice, mallory.UserId)).Should().Equal("D1");
        Remote.UserDevicesRequests.Should().Be(before + 1);
        var since = await alice.SyncTokenAsync();

        // An update that builds on version 5 is applied: no new fetch, and Alice hears that Mallory's devices changed.
        await SendEduAsync("m.device_list_update", Update(mallory, "D2", 6, [5], mallory.AddDevice("D2")));
        (await DevicesEventuallyAsync(alice, mallory.UserId, "D1", "D2")).Should().Equal("D1", "D2");
        Remote.UserDevicesRequests.Should().Be(before + 1);
        (await alice.SyncAsync(since)).Changed().Should().Contain(mallory.UserId);

        // Update 7 is lost; 8 names it as its predecessor: the list is fetched again (after the transaction is
        // answered), then Alice hears of the change.
        since = await alice.SyncTokenAsync();
        mallory.AddDevice("D3");
        mallory.Version = 8;
        await SendEduAsync("m.device_list_update", Update(mallory, "D3", 8, [7], mallory.Devices["D3"].Keys));
        since = await SyncUntilChangedAsync(alice, since, mallory.UserId);
        (await DevicesAsync(alice, mallory.UserId)).Should().Equal("D1", "D2", "D3");
        Remote.UserDevicesRequests.Should().Be(before + 2);

        // Keys their device did not sign are not believed: the list is fetched (and verified) again instead.
        using (var stranger = new TestSigningKey())
        {
            var forged = mallory.AddDevice("D4", signer: stranger);
            mallory.Devices.Remove("D4");
            mallory.Version = 9;
            await SendEduAsync("m.device_list_update", Update(mallory, "D4", 9, [8], forged));
        }

        await SyncUntilChangedAsync(alice, since, mallory.UserId);
        (await DevicesAsync(alice, mallory.UserId)).Should().Equal("D1", "D2", "D3");
        Remote.UserDevicesRequests.Should().Be(before + 3);

        // A deletion that builds on version 9 is applied.
        await SendEduAsync("m.device_list_update", Update(mallory, "D2", 10, [9], deleted: true));
        (await DevicesEventuallyAsync(alice, mallory.UserId, "D1", "D3")).Should().Equal("D1", "D3");
        Remote.UserDevicesRequests.Should().Be(before + 3);
    }

    [Fact]
    public async Task An_update_about_a_list_not_cached_yet_fetches_it_at_once_and_tells_our_users_it_changed()
    {
        var (alice, _, mallory) = await SharedRoomAsync();
        using var owned = mallory;
        mallory.AddDevice("D1");
        mallory.Version = 3;
        Remote.UserDevices = u => u == mallory.UserId ? mallory.Snapshot() : null;
        var before = Remote.UserDevicesRequests;
        var since = await alice.SyncTokenAsync();

        // Nothing cached: the EDU alone (no key query by any of our users) makes us fetch the whole list.
        await SendEduAsync("m.device_list_update", Update(mallory, "D1", 3, [], mallory.Devices["D1"].Keys));
        await SyncUntilChangedAsync(alice, since, mallory.UserId);
        Remote.UserDevicesRequests.Should().Be(before + 1);

        // The fetched list answers the next query without asking again.
        (await DevicesAsync(alice, mallory.UserId)).Should().Equal("D1");
        Remote.UserDevicesRequests.Should().Be(before + 1);
    }

    /// <summary>
    /// SyTest's "If a device list update goes missing, the server resyncs on the next one", with the remote server's
    /// answers held until the test releases them: the transaction carrying an update that needs a fetch is answered
    /// without waiting for the fetch (a request back to its sender, which may not send another transaction before the
    /// answer), and the change is announced after the fetch, so a client whose first /sync (no token, no
    /// device_lists) comes meanwhile still hears of it.
    /// </summary>
    [Fact]
    public async Task A_fetch_after_an_update_waits_for_no_transaction_and_is_announced_after_it_completes()
    {
        var (alice, _, mallory) = await SharedRoomAsync();
        using var owned = mallory;
        var held = Channel.CreateUnbounded<TaskCompletionSource>();
        Remote.Intercept = async request =>
        {
            if (!request.Path.StartsWithSegments("/_matrix/federation/v1/user/devices"))
            {
                return null;
            }

            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await held.Writer.WriteAsync(release);
            await release.Task;
            return Results.Text(mallory.Snapshot().ToJsonString(), "application/json");
        };
        var heldFetches = new List<TaskCompletionSource>(); // released at the end whatever happens, so the server is not left waiting
        try
        {
            // Update 1, nothing cached: our server asks for the whole list; the transaction is answered meanwhile.
            mallory.AddDevice("D1");
            mallory.DisplayNames["D1"] = "Original name";
            mallory.Version = 1;
            var send = SendEduAsync("m.device_list_update", Update(mallory, "D1", 1, [], mallory.Devices["D1"].Keys));
            var fetch = await held.Reader.ReadAsync().AsTask().WaitAsync(Patience);
            heldFetches.Add(fetch);
            (await Task.WhenAny(send, Task.Delay(TimeSpan.FromSeconds(10)))).Should().BeSameAs(send, "the transaction must not wait for the fetch from its sender");
            await send;

            // Alice's first sync (no token) comes before the answer, then she hears of the change.
            var since = await alice.SyncTokenAsync();
            fetch.SetResult();
            since = await SyncUntilChangedAsync(alice, since, mallory.UserId);
            var query = await alice.QueryAsync(mallory.UserId);
            query.GetProperty("device_keys").GetProperty(mallory.UserId).GetProperty("D1").GetProperty("unsigned").GetProperty("device_display_name").GetString()
                .Should().Be("Original name");

            // Update 2 (new keys) is lost; update 3 renames the device and names 2 as its predecessor: the list is
            // fetched again, and the answer has both.
            var newKeys = mallory.AddDevice("D1");
            mallory.DisplayNames["D1"] = "New device name";
            mallory.Version = 3;
            send = SendEduAsync("m.device_list_update", Update(mallory, "D1", 3, [2], newKeys));
            fetch = await held.Reader.ReadAsync().AsTask().WaitAsync(Patience);
            heldFetches.Add(fetch);
            (await Task.WhenAny(send, Task.Delay(TimeSpan.FromSeconds(10)))).Should().BeSameAs(send, "the transaction must not wait for the fetch from its sender");
            await send;
            fetch.SetResult();
            await SyncUntilChangedAsync(alice, since, mallory.UserId);
            var device = (await alice.QueryAsync(mallory.UserId)).GetProperty("device_keys").GetProperty(mallory.UserId).GetProperty("D1");
            device.GetProperty("keys").GetProperty("ed25519:D1").GetString().Should().Be(mallory.Devices["D1"].Key.PublicKey);
            device.GetProperty("unsigned").GetProperty("device_display_name").GetString().Should().Be("New device name");
            held.Reader.TryRead(out _).Should().BeFalse("the fetched list answers the queries");
        }
        finally
        {
            foreach (var fetch in heldFetches)
            {
                fetch.TrySetResult();
            }

            Remote.Intercept = null;
        }
    }

    [Fact]
    public async Task A_signing_key_update_replaces_the_cached_cross_signing_keys_when_it_verifies()
    {
        var (alice, _, mallory) = await SharedRoomAsync();
        using var owned = mallory;
        mallory.AddDevice("D1");
        mallory.Version = 2;
        Remote.UserDevices = u => u == mallory.UserId ? mallory.Snapshot() : null;
        (await DevicesAsync(alice, mallory.UserId)).Should().Equal("D1");
        var fetches = Remote.UserDevicesRequests;

        using var keys = new TestCrossSigning(mallory.UserId);
        await SendEduAsync("m.signing_key_update", new JsonObject { ["user_id"] = mallory.UserId, ["master_key"] = keys.MasterKey(), ["self_signing_key"] = keys.SelfSigningKey() });
        var deadline = DateTime.UtcNow + Patience;
        JsonElement query;
        do
        {
            await Task.Delay(200);
            query = await alice.QueryAsync(mallory.UserId);
        }
        while (!query.GetProperty("self_signing_keys").TryGetProperty(mallory.UserId, out _) && DateTime.UtcNow < deadline);
        query.GetProperty("master_keys").GetProperty(mallory.UserId).GetProperty("keys").TryGetProperty(keys.MasterKeyId, out _).Should().BeTrue();
        query.GetProperty("self_signing_keys").GetProperty(mallory.UserId).GetProperty("keys").TryGetProperty(keys.SelfSigningKeyId, out _).Should().BeTrue();
        Remote.UserDevicesRequests.Should().Be(fetches);

        // A new self-signing key that the master key did not sign is not believed.
        using var other = new TestCrossSigning(mallory.UserId);
        using var stranger = new TestSigningKey();
        await SendEduAsync("m.signing_key_update", new JsonObject { ["user_id"] = mallory.UserId, ["self_signing_key"] = other.SelfSigningKey(stranger) });
        await Task.Delay(500);
        (await alice.QueryAsync(mallory.UserId)).GetProperty("self_signing_keys").GetProperty(mallory.UserId).GetProperty("keys")
            .TryGetProperty(keys.SelfSigningKeyId, out _).Should().BeTrue();
    }

    [Fact]
    public async Task Updates_about_users_of_other_servers_or_users_who_share_no_room_are_ignored()
    {
        var (alice, _, mallory) = await SharedRoomAsync();
        using var owned = mallory;
        var since = await alice.SyncTokenAsync();

        // The fake server speaks about Alice (ours) and about a user of its own who shares no room with ours.
        await SendEduAsync("m.device_list_update", new JsonObject { ["user_id"] = alice.UserId, ["device_id"] = "EVIL", ["stream_id"] = 1 });
        await SendEduAsync("m.signing_key_update", new JsonObject { ["user_id"] = alice.UserId, ["master_key"] = new JsonObject() });
        var stranger = "@stranger:" + Remote.ServerName;
        await SendEduAsync("m.device_list_update", new JsonObject { ["user_id"] = stranger, ["device_id"] = "S", ["stream_id"] = 1 });
        // And sends nonsense.
        await SendEduAsync("m.device_list_update", new JsonObject { ["user_id"] = mallory.UserId, ["device_id"] = 5, ["stream_id"] = "x" });
        await SendEduAsync("m.direct_to_device", new JsonObject { ["sender"] = alice.UserId, ["type"] = "m.x", ["message_id"] = "1", ["messages"] = new JsonObject() });

        await Task.Delay(1000);
        var sync = await alice.SyncAsync(since);
        sync.Changed().Should().NotContain([alice.UserId, stranger]);
        (await AccountTestKit.ScalarAsync<long>(Server, "SELECT count(*) FROM e2e_remote_device_lists WHERE user_id = @u", ("u", stranger))).Should().Be(0);
        (await alice.QueryAsync(alice.UserId)).GetProperty("device_keys").GetProperty(alice.UserId).TryGetProperty("EVIL", out _).Should().BeFalse();
    }

    [Fact]
    public async Task The_cache_is_forgotten_when_no_local_user_shares_a_room_with_the_remote_user_any_more()
    {
        var (alice, roomId, mallory) = await SharedRoomAsync();
        using var owned = mallory;
        mallory.AddDevice("D1");
        mallory.Version = 3;
        Remote.UserDevices = u => u == mallory.UserId ? mallory.Snapshot() : null;
        (await DevicesAsync(alice, mallory.UserId)).Should().Equal("D1");
        (await AccountTestKit.ScalarAsync<long>(Server, "SELECT count(*) FROM e2e_remote_device_lists WHERE user_id = @u", ("u", mallory.UserId))).Should().Be(1);

        await alice.LeaveAsync(roomId);
        var deadline = DateTime.UtcNow + Patience;
        long left;
        do
        {
            await Task.Delay(200);
            left = await AccountTestKit.ScalarAsync<long>(Server, "SELECT count(*) FROM e2e_remote_device_lists WHERE user_id = @u", ("u", mallory.UserId));
        }
        while (left > 0 && DateTime.UtcNow < deadline);
        left.Should().Be(0);
    }

    [Fact]
    public async Task An_unreachable_server_is_reported_in_failures_of_key_queries_and_claims()
    {
        var alice = await Server.NewDeviceAsync();
        var nowhere = "@someone:localhost:1";
        var query = await alice.QueryAsync(nowhere);
        query.GetProperty("failures").GetProperty("localhost:1").GetProperty("status").GetInt32().Should().Be(503);

        var claim = (await alice.Client.PostAsync("/_matrix/client/v3/keys/claim", new JsonObject
        {
            ["one_time_keys"] = new JsonObject { [nowhere] = new JsonObject { ["D"] = "signed_curve25519" } },
        })).EnsureOk().Json;
        claim.GetProperty("failures").TryGetProperty("localhost:1", out _).Should().BeTrue();
        claim.GetProperty("one_time_keys").EnumerateObject().Should().BeEmpty();
    }
}
