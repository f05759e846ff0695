using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.E2ee.Keys;
using Homeserver.E2ee.ToDevice;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.Host.Tests.E2ee;

/// <summary>The service methods the federation module will call for incoming requests and EDUs.</summary>
public sealed class FederationEntryPointTests(TestServer server) : IClassFixture<TestServer>
{
    private static JsonElement Json(JsonNode node)
    {
        using var doc = JsonDocument.Parse(node.ToJsonString());
        return doc.RootElement.Clone();
    }

    [Fact]
    public async Task Another_server_gets_device_master_and_self_signing_keys_with_the_owners_signatures_only()
    {
        using var alice = await server.NewDeviceAsync();
        using var carol = await server.NewDeviceAsync();
        using var aliceKeys = new TestCrossSigning(alice.UserId);
        using var carolKeys = new TestCrossSigning(carol.UserId);
        await alice.UploadDeviceKeysAsync();
        (await alice.Client.PostAsync("/_matrix/client/v3/keys/device_signing/upload", aliceKeys.UploadBody())).EnsureOk();
        (await carol.Client.PostAsync("/_matrix/client/v3/keys/device_signing/upload", carolKeys.UploadBody())).EnsureOk();
        var aliceMaster = aliceKeys.MasterKey();
        carolKeys.UserSigning.Sign(aliceMaster, carol.UserId, carolKeys.UserSigningKeyId);
        (await carol.Client.PostAsync("/_matrix/client/v3/keys/signatures/upload", new JsonObject { [alice.UserId] = new JsonObject { [aliceKeys.Master.PublicKey] = aliceMaster } })).EnsureOk();

        var keys = server.Services.GetRequiredService<E2eeKeyService>();
        var answer = await keys.QueryForServerAsync(Json(new JsonObject
        {
            ["device_keys"] = new JsonObject { [alice.UserId] = new JsonArray(), ["@bob:remote.example"] = new JsonArray() },
        }), CancellationToken.None);

        answer["device_keys"]![alice.UserId]![alice.DeviceId].Should().NotBeNull();
        answer["device_keys"]!.AsObject().ContainsKey("@bob:remote.example").Should().BeFalse();
        answer["master_keys"]![alice.UserId]!.AsObject().ContainsKey("signatures").Should().BeFalse("carol's user-signing signature is hers alone");
        answer["self_signing_keys"]![alice.UserId].Should().NotBeNull();
        answer.AsObject().ContainsKey("user_signing_keys").Should().BeFalse();
    }

    [Fact]
    public async Task Another_server_claims_keys_of_local_users_only()
    {
        using var alice = await server.NewDeviceAsync();
        await alice.UploadDeviceKeysAsync();
        await alice.UploadOneTimeKeysAsync(1);
        var keys = server.Services.GetRequiredService<E2eeKeyService>();
        var answer = await keys.ClaimForServerAsync(Json(new JsonObject
        {
            ["one_time_keys"] = new JsonObject
            {
                [alice.UserId] = new JsonObject { [alice.DeviceId] = "signed_curve25519" },
                ["@bob:remote.example"] = new JsonObject { ["D"] = "signed_curve25519" },
            },
        }), CancellationToken.None);
        answer["one_time_keys"]![alice.UserId]![alice.DeviceId]!.AsObject().Single().Key.Should().Be("signed_curve25519:k0000");
        answer["one_time_keys"]!.AsObject().Should().HaveCount(1);
        answer.AsObject().ContainsKey("failures").Should().BeFalse();
    }

    [Fact]
    public async Task A_direct_to_device_edu_is_delivered_once_and_only_from_its_senders_server()
    {
        using var alice = await server.NewDeviceAsync();
        var toDevice = server.Services.GetRequiredService<ToDeviceService>();
        JsonElement Edu(string sender, string messageId) => Json(new JsonObject
        {
            ["sender"] = sender,
            ["type"] = "m.room.encrypted",
            ["message_id"] = messageId,
            ["messages"] = new JsonObject
            {
                [alice.UserId] = new JsonObject { [alice.DeviceId] = new JsonObject { ["ciphertext"] = messageId } },
                ["@someone:elsewhere.example"] = new JsonObject { ["*"] = new JsonObject() },
            },
        });

        (await toDevice.ReceiveFromServerAsync("remote.example", Edu("@bob:remote.example", "m1"), CancellationToken.None)).Should().BeTrue();
        (await toDevice.ReceiveFromServerAsync("remote.example", Edu("@bob:remote.example", "m1"), CancellationToken.None)).Should().BeTrue();
        (await toDevice.ReceiveFromServerAsync("evil.example", Edu("@bob:remote.example", "m2"), CancellationToken.None)).Should().BeFalse();
        (await toDevice.ReceiveFromServerAsync("remote.example", Json(new JsonObject { ["sender"] = "@bob:remote.example" }), CancellationToken.None)).Should().BeFalse();

        var events = (await alice.SyncAsync()).ToDeviceEvents();
        events.Should().ContainSingle();
        events[0].GetProperty("sender").GetString().Should().Be("@bob:remote.example");
        events[0].GetProperty("content").GetProperty("ciphertext").GetString().Should().Be("m1");
    }
}
