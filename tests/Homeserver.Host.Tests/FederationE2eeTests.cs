using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core.Configuration;
using Homeserver.Federation.Client;
using Homeserver.Host.Tests.Accounts;
using Homeserver.Host.Tests.E2ee;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.Host.Tests;

/// <summary>A federating server that shares its users' device names with other servers (off by default).</summary>
public sealed class DeviceNameSharingServer : TestServer
{
    protected override bool UseTls => true;

    protected override HomeserverConfig Configure(HomeserverConfig config) => config with { AllowDeviceNameLookupOverFederation = true };
}

/// <summary>Two of our servers federating over TLS; B shares its users' device names, A does not.</summary>
public sealed class E2eeServers : IAsyncLifetime
{
    public FederatedTestServer A { get; } = new();

    public DeviceNameSharingServer B { get; } = new();

    public async Task InitializeAsync()
    {
        await A.InitializeAsync();
        await B.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }
}

/// <summary>End-to-end encryption between users of two servers: keys, one-time keys, to-device messages, device lists.</summary>
public sealed class FederationE2eeTests(E2eeServers servers) : IClassFixture<E2eeServers>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static string Esc(string s) => Uri.EscapeDataString(s);

    /// <summary>Alice on A and Bob on B in an encrypted room created on A, both with device keys uploaded.</summary>
    private async Task<(TestDevice Alice, TestDevice Bob, string RoomId)> EncryptedRoomAsync()
    {
        var alice = await servers.A.NewDeviceAsync();
        var bob = await servers.B.NewDeviceAsync();
        var roomId = (await alice.Client.PostAsync("/_matrix/client/v3/createRoom", new JsonObject
        {
            ["invite"] = new JsonArray(bob.UserId),
            ["initial_state"] = new JsonArray(new JsonObject
            {
                ["type"] = "m.room.encryption",
                ["state_key"] = string.Empty,
                ["content"] = new JsonObject { ["algorithm"] = "m.megolm.v1.aes-sha2" },
            }),
        })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        await SyncUntilAsync(bob, s => s.GetProperty("rooms").GetProperty("invite").TryGetProperty(roomId, out _));
        await bob.JoinAsync(roomId);
        await SyncUntilAsync(alice, s => Timeline(s, roomId).Any(e => e.GetProperty("type").GetString() == "m.room.member" && e.GetProperty("state_key").GetString() == bob.UserId));
        await alice.UploadDeviceKeysAsync();
        await bob.UploadDeviceKeysAsync();
        return (alice, bob, roomId);
    }

    private static async Task<JsonElement> SyncUntilAsync(TestDevice device, Func<JsonElement, bool> done, string? since = null)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < deadline)
        {
            var sync = await device.SyncAsync(since, timeout: 1000);
            if (done(sync))
            {
                return sync;
            }

            since = sync.GetProperty("next_batch").GetString();
        }

        throw new TimeoutException("the expected sync never came");
    }

    private static IEnumerable<JsonElement> Timeline(JsonElement sync, string roomId) =>
        sync.GetProperty("rooms").GetProperty("join").TryGetProperty(roomId, out var room) ? room.GetProperty("timeline").GetProperty("events").EnumerateArray() : [];

    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow + Patience;
        var last = await read();
        while (!done(last) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
            last = await read();
        }

        return last;
    }

    [Fact]
    public async Task Device_keys_of_a_user_on_the_other_server_are_queried_and_their_one_time_key_is_claimed_only_once()
    {
        var (alice, bob, _) = await EncryptedRoomAsync();
        await bob.UploadOneTimeKeysAsync(1);
        (await bob.Client.PutAsync($"/_matrix/client/v3/devices/{bob.DeviceId}", new { display_name = "Bob's phone" })).EnsureOk();

        var query = await alice.QueryAsync(bob.UserId);
        query.GetProperty("failures").EnumerateObject().Should().BeEmpty();
        var keys = query.GetProperty("device_keys").GetProperty(bob.UserId).GetProperty(bob.DeviceId);
        keys.GetProperty("keys").GetProperty("ed25519:" + bob.DeviceId).GetString().Should().Be(bob.Key.PublicKey);
        keys.GetProperty("signatures").GetProperty(bob.UserId).TryGetProperty("ed25519:" + bob.DeviceId, out _).Should().BeTrue();

        // B shares device names; its answer (through A's cache, kept current by B's device list updates) carries it.
        var named = await EventuallyAsync(
            () => alice.QueryAsync(bob.UserId),
            q => q.GetProperty("device_keys").GetProperty(bob.UserId).GetProperty(bob.DeviceId).GetProperty("unsigned").TryGetProperty("device_display_name", out _));
        named.GetProperty("device_keys").GetProperty(bob.UserId).GetProperty(bob.DeviceId).GetProperty("unsigned").GetProperty("device_display_name").GetString()
            .Should().Be("Bob's phone");

        var claim = new JsonObject { ["one_time_keys"] = new JsonObject { [bob.UserId] = new JsonObject { [bob.DeviceId] = "signed_curve25519" } } };
        var first = (await alice.Client.PostAsync("/_matrix/client/v3/keys/claim", claim)).EnsureOk().Json;
        first.GetProperty("failures").EnumerateObject().Should().BeEmpty();
        var claimed = first.GetProperty("one_time_keys").GetProperty(bob.UserId).GetProperty(bob.DeviceId).EnumerateObject().Single();
        claimed.Name.Should().StartWith("signed_curve25519:");
        claimed.Value.GetProperty("signatures").GetProperty(bob.UserId).TryGetProperty("ed25519:" + bob.DeviceId, out _).Should().BeTrue();

        var second = (await alice.Client.PostAsync("/_matrix/client/v3/keys/claim", claim)).EnsureOk().Json;
        second.GetProperty("one_time_keys").TryGetProperty(bob.UserId, out _).Should().BeFalse("a one-time key is handed out once");
        (await bob.UploadAsync(new JsonObject()))
            .GetProperty("one_time_key_counts").GetProperty("signed_curve25519").GetInt32().Should().Be(0);
    }

    [Fact]
    public async Task Cross_signing_keys_of_a_remote_user_are_queried_and_can_be_signed_by_a_local_user()
    {
        var (alice, bob, _) = await EncryptedRoomAsync();
        using var aliceKeys = new TestCrossSigning(alice.UserId);
        using var bobKeys = new TestCrossSigning(bob.UserId);
        (await alice.Client.PostAsync("/_matrix/client/v3/keys/device_signing/upload", aliceKeys.UploadBody())).EnsureOk();
        (await bob.Client.PostAsync("/_matrix/client/v3/keys/device_signing/upload", bobKeys.UploadBody())).EnsureOk();

        var query = await EventuallyAsync(() => alice.QueryAsync(bob.UserId), q => q.GetProperty("self_signing_keys").TryGetProperty(bob.UserId, out _));
        query.GetProperty("master_keys").GetProperty(bob.UserId).GetProperty("keys").GetProperty(bobKeys.MasterKeyId).GetString().Should().Be(bobKeys.Master.PublicKey);
        query.GetProperty("self_signing_keys").GetProperty(bob.UserId).GetProperty("keys").GetProperty(bobKeys.SelfSigningKeyId).GetString()
            .Should().Be(bobKeys.SelfSigning.PublicKey);
        query.GetProperty("user_signing_keys").TryGetProperty(bob.UserId, out _).Should().BeFalse();

        // Alice verifies Bob: her user-signing key signs his master key, which her server knows from his.
        var bobMaster = bobKeys.MasterKey();
        aliceKeys.UserSigning.Sign(bobMaster, alice.UserId, aliceKeys.UserSigningKeyId);
        var upload = (await alice.Client.PostAsync("/_matrix/client/v3/keys/signatures/upload", new JsonObject
        {
            [bob.UserId] = new JsonObject { [bobKeys.Master.PublicKey] = bobMaster },
        })).EnsureOk().Json;
        upload.GetProperty("failures").EnumerateObject().Should().BeEmpty();
        var after = await alice.QueryAsync(bob.UserId);
        after.GetProperty("master_keys").GetProperty(bob.UserId).GetProperty("signatures").GetProperty(alice.UserId).TryGetProperty(aliceKeys.UserSigningKeyId, out _)
            .Should().BeTrue();
    }

    [Fact]
    public async Task A_to_device_message_for_a_device_on_the_other_server_arrives_once()
    {
        var (alice, bob, _) = await EncryptedRoomAsync();
        var since = await bob.SyncTokenAsync();
        var body = new JsonObject
        {
            ["messages"] = new JsonObject { [bob.UserId] = new JsonObject { [bob.DeviceId] = new JsonObject { ["ciphertext"] = "olm secret", ["n"] = 1 } } },
        };
        (await alice.Client.PutAsync("/_matrix/client/v3/sendToDevice/m.room.encrypted/t1", body)).EnsureOk();
        (await alice.Client.PutAsync("/_matrix/client/v3/sendToDevice/m.room.encrypted/t1", body)).EnsureOk(); // a retried request

        var sync = await SyncUntilAsync(bob, s => s.ToDeviceEvents().Count > 0, since);
        var message = sync.ToDeviceEvents().Should().ContainSingle().Subject;
        message.GetProperty("sender").GetString().Should().Be(alice.UserId);
        message.GetProperty("type").GetString().Should().Be("m.room.encrypted");
        message.GetProperty("content").GetProperty("ciphertext").GetString().Should().Be("olm secret");

        await Task.Delay(1000);
        var next = await bob.SyncAsync(sync.GetProperty("next_batch").GetString());
        next.ToDeviceEvents().Should().BeEmpty();
    }

    [Fact]
    public async Task A_new_device_of_a_user_on_the_other_server_shows_in_device_lists_changed_and_in_key_queries()
    {
        var (alice, bob, _) = await EncryptedRoomAsync();
        (await alice.QueryAsync(bob.UserId)).GetProperty("device_keys").GetProperty(bob.UserId).EnumerateObject().Should().HaveCount(1);
        var since = await alice.SyncTokenAsync();

        using var bobPhone = await bob.LoginAgainAsync(servers.B);
        await bobPhone.UploadDeviceKeysAsync();

        var sync = await SyncUntilAsync(alice, s => s.Changed().Contains(bob.UserId), since);
        sync.Changed().Should().Contain(bob.UserId);
        var changes = (await alice.Client.GetAsync($"/_matrix/client/v3/keys/changes?from={Esc(since)}&to={Esc(sync.GetProperty("next_batch").GetString()!)}")).EnsureOk().Json;
        changes.GetProperty("changed").EnumerateArray().Select(e => e.GetString()).Should().Contain(bob.UserId);

        var query = await EventuallyAsync(() => alice.QueryAsync(bob.UserId), q => q.GetProperty("device_keys").GetProperty(bob.UserId).TryGetProperty(bobPhone.DeviceId, out _));
        query.GetProperty("device_keys").GetProperty(bob.UserId).EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo([bob.DeviceId, bobPhone.DeviceId]);

        // Logging the phone out deletes the device: it leaves A's answers too.
        (await bobPhone.Client.PostAsync("/_matrix/client/v3/logout", new { })).EnsureOk();
        var gone = await EventuallyAsync(() => alice.QueryAsync(bob.UserId), q => !q.GetProperty("device_keys").GetProperty(bob.UserId).TryGetProperty(bobPhone.DeviceId, out _));
        gone.GetProperty("device_keys").GetProperty(bob.UserId).EnumerateObject().Select(p => p.Name).Should().Equal(bob.DeviceId);
    }

    [Fact]
    public async Task A_user_of_the_other_server_who_joins_is_in_device_lists_changed_of_the_members()
    {
        var alice = await servers.A.NewDeviceAsync();
        var roomId = (await alice.Client.PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat" })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        var since = await alice.SyncTokenAsync();
        var dave = await servers.B.NewDeviceAsync();
        (await dave.Client.PostAsync($"/_matrix/client/v3/join/{Esc(roomId)}?server_name={Esc(servers.A.ServerName)}", new { })).EnsureOk();

        var sync = await SyncUntilAsync(alice, s => s.Changed().Contains(dave.UserId), since);
        sync.Changed().Should().Contain(dave.UserId);
    }

    [Fact]
    public async Task An_encrypted_message_sent_on_one_server_reaches_the_other()
    {
        var (alice, bob, roomId) = await EncryptedRoomAsync();
        var content = new JsonObject
        {
            ["algorithm"] = "m.megolm.v1.aes-sha2",
            ["ciphertext"] = "AwgAEnACgAkLmt6qF84IK++J7UDH2Za1YVchHyprqTqsg",
            ["device_id"] = alice.DeviceId,
            ["sender_key"] = TestDevice.RandomKey(),
            ["session_id"] = "session1",
        };
        (await alice.Client.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.encrypted/e1", content)).EnsureOk();

        var sync = await SyncUntilAsync(bob, s => Timeline(s, roomId).Any(e => e.GetProperty("type").GetString() == "m.room.encrypted"));
        var received = Timeline(sync, roomId).Single(e => e.GetProperty("type").GetString() == "m.room.encrypted");
        received.GetProperty("sender").GetString().Should().Be(alice.UserId);
        received.GetProperty("content").GetProperty("ciphertext").GetString().Should().Be("AwgAEnACgAkLmt6qF84IK++J7UDH2Za1YVchHyprqTqsg");
    }

    [Fact]
    public async Task The_profile_of_a_user_on_the_other_server_is_looked_up_over_federation()
    {
        var alice = await servers.A.NewDeviceAsync();
        var bob = await servers.B.NewDeviceAsync();
        (await bob.Client.PutAsync($"/_matrix/client/v3/profile/{Esc(bob.UserId)}/displayname", new { displayname = "Bob from B" })).EnsureOk();

        var profile = (await alice.Client.GetAsync($"/_matrix/client/v3/profile/{Esc(bob.UserId)}")).EnsureOk().Json;
        profile.GetProperty("displayname").GetString().Should().Be("Bob from B");
        var name = (await alice.Client.GetAsync($"/_matrix/client/v3/profile/{Esc(bob.UserId)}/displayname")).EnsureOk().Json;
        name.GetProperty("displayname").GetString().Should().Be("Bob from B");

        var missing = await alice.Client.GetAsync($"/_matrix/client/v3/profile/{Esc("@nobody:" + servers.B.ServerName)}");
        missing.Status.Should().Be(HttpStatusCode.NotFound);
        missing.ErrCode.Should().Be("M_NOT_FOUND");
    }

    [Fact]
    public async Task A_deactivated_user_leaves_their_rooms_on_the_other_server_and_rejects_invites()
    {
        var alice = await servers.A.NewDeviceAsync();
        var carol = await servers.B.NewDeviceAsync();
        var joined = (await alice.Client.PostAsync("/_matrix/client/v3/createRoom", new { invite = new[] { carol.UserId } })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        var invitedOnly = (await alice.Client.PostAsync("/_matrix/client/v3/createRoom", new { invite = new[] { carol.UserId } })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        await SyncUntilAsync(carol, s => s.GetProperty("rooms").GetProperty("invite").TryGetProperty(invitedOnly, out _) && s.GetProperty("rooms").GetProperty("invite").TryGetProperty(joined, out _));
        await carol.JoinAsync(joined);
        await SyncUntilAsync(alice, s => Timeline(s, joined).Any(e => e.GetProperty("type").GetString() == "m.room.member" && e.GetProperty("state_key").GetString() == carol.UserId));

        (await AccountTestKit.WithPasswordAsync(carol.Client, HttpMethod.Post, "/_matrix/client/v3/account/deactivate")).EnsureOk();

        async Task<string?> MembershipOnA(string roomId)
        {
            var r = await alice.Client.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/m.room.member/{Esc(carol.UserId)}");
            return r.Status == HttpStatusCode.OK ? r.Json.GetProperty("membership").GetString() : null;
        }

        (await EventuallyAsync(() => MembershipOnA(joined), m => m == "leave")).Should().Be("leave");
        (await EventuallyAsync(() => MembershipOnA(invitedOnly), m => m == "leave")).Should().Be("leave", "the invite was rejected through A");
    }

    [Fact]
    public async Task The_federation_key_endpoints_answer_for_local_users_only()
    {
        var alice = await servers.A.NewDeviceAsync();
        await alice.UploadDeviceKeysAsync();
        var client = servers.B.Services.GetRequiredService<IFederationClient>();
        var a = servers.A.ServerName;

        var devices = await client.GetAsync(a, "/_matrix/federation/v1/user/devices/" + Esc(alice.UserId), CancellationToken.None);
        devices.GetProperty("user_id").GetString().Should().Be(alice.UserId);
        devices.GetProperty("stream_id").GetInt64().Should().BePositive();
        var device = devices.GetProperty("devices").EnumerateArray().Should().ContainSingle().Subject;
        device.GetProperty("device_id").GetString().Should().Be(alice.DeviceId);
        device.GetProperty("keys").GetProperty("keys").GetProperty("ed25519:" + alice.DeviceId).GetString().Should().Be(alice.Key.PublicKey);
        device.TryGetProperty("device_display_name", out _).Should().BeFalse("A does not share device names");

        var query = await client.PostAsync(a, "/_matrix/federation/v1/user/keys/query", Json(new JsonObject { ["device_keys"] = new JsonObject { [alice.UserId] = new JsonArray() } }), CancellationToken.None);
        query.GetProperty("device_keys").GetProperty(alice.UserId).GetProperty(alice.DeviceId).GetProperty("unsigned").TryGetProperty("device_display_name", out _).Should().BeFalse();

        var stranger = "@someone:" + servers.B.ServerName;
        foreach (var (method, path, body) in new (HttpMethod, string, JsonObject?)[]
        {
            (HttpMethod.Get, "/_matrix/federation/v1/user/devices/" + Esc(stranger), null),
            (HttpMethod.Post, "/_matrix/federation/v1/user/keys/query", new JsonObject { ["device_keys"] = new JsonObject { [alice.UserId] = new JsonArray(), [stranger] = new JsonArray() } }),
            (HttpMethod.Post, "/_matrix/federation/v1/user/keys/claim", new JsonObject { ["one_time_keys"] = new JsonObject { [stranger] = new JsonObject { ["D"] = "signed_curve25519" } } }),
        })
        {
            var refused = await FluentActions.Awaiting(() => client.SendAsync(method, a, path, body is null ? null : Json(body), CancellationToken.None))
                .Should().ThrowAsync<FederationException>();
            refused.Which.StatusCode.Should().Be(400);
            refused.Which.ErrCode.Should().Be("M_INVALID_PARAM");
        }

        var bad = await FluentActions.Awaiting(() => client.PostAsync(a, "/_matrix/federation/v1/user/keys/claim", Json(new JsonObject { ["one_time_keys"] = 5 }), CancellationToken.None))
            .Should().ThrowAsync<FederationException>();
        bad.Which.StatusCode.Should().Be(400);
    }

    private static JsonElement Json(JsonNode node) => JsonSerializer.SerializeToElement(node);
}
