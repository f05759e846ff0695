using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests.E2ee;

public sealed class CrossSigningTests(TestServer server) : IClassFixture<TestServer>
{
    private const string UploadKeys = "/_matrix/client/v3/keys/device_signing/upload";
    private const string UploadSignatures = "/_matrix/client/v3/keys/signatures/upload";

    private static JsonObject PasswordAuth(string userId, string? session, string password = E2eeClientExtensions.Password) => new()
    {
        ["type"] = "m.login.password",
        ["identifier"] = new JsonObject { ["type"] = "m.id.user", ["user"] = userId },
        ["password"] = password,
        ["session"] = session,
    };

    [Fact]
    public async Task First_upload_needs_no_auth_and_the_user_signing_key_is_shown_only_to_its_owner()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        using var keys = new TestCrossSigning(alice.UserId);
        (await alice.Client.PostAsync(UploadKeys, keys.UploadBody())).EnsureOk();

        var own = await alice.QueryAsync(alice.UserId);
        own.GetProperty("master_keys").GetProperty(alice.UserId).GetProperty("keys").GetProperty(keys.MasterKeyId).GetString().Should().Be(keys.Master.PublicKey);
        own.GetProperty("self_signing_keys").GetProperty(alice.UserId).GetProperty("signatures").GetProperty(alice.UserId)
            .TryGetProperty(keys.MasterKeyId, out _).Should().BeTrue();
        own.GetProperty("user_signing_keys").GetProperty(alice.UserId).GetProperty("keys").GetProperty(keys.UserSigningKeyId).GetString().Should().Be(keys.UserSigning.PublicKey);

        var others = await bob.QueryAsync(alice.UserId);
        others.GetProperty("master_keys").TryGetProperty(alice.UserId, out _).Should().BeTrue();
        others.GetProperty("self_signing_keys").TryGetProperty(alice.UserId, out _).Should().BeTrue();
        others.GetProperty("user_signing_keys").TryGetProperty(alice.UserId, out _).Should().BeFalse();
    }

    [Fact]
    public async Task The_unstable_path_works_and_identical_keys_again_need_no_auth()
    {
        using var alice = await server.NewDeviceAsync();
        using var keys = new TestCrossSigning(alice.UserId);
        var body = keys.UploadBody();
        (await alice.Client.PostAsync("/_matrix/client/unstable/keys/device_signing/upload", body.DeepClone())).EnsureOk();
        (await alice.Client.PostAsync(UploadKeys, body.DeepClone())).EnsureOk();
        (await alice.Client.PostAsync(UploadKeys, new JsonObject { ["master_key"] = body["master_key"]!.DeepClone() })).EnsureOk();
    }

    [Fact]
    public async Task Replacing_keys_needs_the_password_through_user_interactive_auth()
    {
        using var alice = await server.NewDeviceAsync();
        using var first = new TestCrossSigning(alice.UserId);
        using var second = new TestCrossSigning(alice.UserId);
        (await alice.Client.PostAsync(UploadKeys, first.UploadBody())).EnsureOk();

        var challenge = await alice.Client.PostAsync(UploadKeys, second.UploadBody());
        challenge.Status.Should().Be(HttpStatusCode.Unauthorized);
        challenge.Json.GetProperty("flows").EnumerateArray().Single().GetProperty("stages").EnumerateArray().Select(s => s.GetString()).Should().Equal("m.login.password");
        var session = challenge.Json.GetProperty("session").GetString();

        var wrong = second.UploadBody();
        wrong["auth"] = PasswordAuth(alice.UserId, session, "not the password");
        var refused = await alice.Client.PostAsync(UploadKeys, wrong);
        refused.Status.Should().Be(HttpStatusCode.Unauthorized);
        refused.ErrCode.Should().Be("M_FORBIDDEN");
        (await alice.QueryAsync(alice.UserId)).GetProperty("master_keys").GetProperty(alice.UserId).GetProperty("keys").TryGetProperty(first.MasterKeyId, out _).Should().BeTrue();

        var right = second.UploadBody();
        right["auth"] = PasswordAuth(alice.UserId, session);
        (await alice.Client.PostAsync(UploadKeys, right)).EnsureOk();
        var query = await alice.QueryAsync(alice.UserId);
        query.GetProperty("master_keys").GetProperty(alice.UserId).GetProperty("keys").TryGetProperty(second.MasterKeyId, out _).Should().BeTrue();
    }

    [Fact]
    public async Task Another_users_password_does_not_pass_the_stage()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        using var first = new TestCrossSigning(alice.UserId);
        using var second = new TestCrossSigning(alice.UserId);
        (await alice.Client.PostAsync(UploadKeys, first.UploadBody())).EnsureOk();
        var session = (await alice.Client.PostAsync(UploadKeys, second.UploadBody())).Json.GetProperty("session").GetString();
        var body = second.UploadBody();
        body["auth"] = PasswordAuth(bob.UserId, session);
        var response = await alice.Client.PostAsync(UploadKeys, body);

        // Another account's credentials are refused outright (403), as for every password stage (Synapse: "Invalid auth").
        response.Status.Should().Be(HttpStatusCode.Forbidden);
        response.ErrCode.Should().Be("M_FORBIDDEN");
    }

    [Fact]
    public async Task Keys_must_be_signed_by_the_master_key_and_well_formed()
    {
        using var alice = await server.NewDeviceAsync();
        using var keys = new TestCrossSigning(alice.UserId);
        using var stranger = new TestSigningKey();

        var noMaster = await alice.Client.PostAsync(UploadKeys, new JsonObject { ["self_signing_key"] = keys.SelfSigningKey() });
        noMaster.Status.Should().Be(HttpStatusCode.BadRequest);
        noMaster.ErrCode.Should().Be("M_MISSING_PARAM");

        var badSignature = await alice.Client.PostAsync(UploadKeys, new JsonObject { ["master_key"] = keys.MasterKey(), ["self_signing_key"] = keys.SelfSigningKey(signedBy: stranger) });
        badSignature.Status.Should().Be(HttpStatusCode.BadRequest);
        badSignature.ErrCode.Should().Be("M_INVALID_SIGNATURE");

        var wrongUsage = keys.MasterKey();
        wrongUsage["usage"] = new JsonArray("self_signing");
        (await alice.Client.PostAsync(UploadKeys, new JsonObject { ["master_key"] = wrongUsage })).ErrCode.Should().Be("M_INVALID_PARAM");

        var wrongUser = keys.MasterKey();
        wrongUser["user_id"] = "@someone:else";
        (await alice.Client.PostAsync(UploadKeys, new JsonObject { ["master_key"] = wrongUser })).ErrCode.Should().Be("M_INVALID_PARAM");

        var twoKeys = keys.MasterKey();
        twoKeys["keys"]!["ed25519:" + stranger.PublicKey] = stranger.PublicKey;
        (await alice.Client.PostAsync(UploadKeys, new JsonObject { ["master_key"] = twoKeys })).ErrCode.Should().Be("M_INVALID_PARAM");

        var mismatched = keys.MasterKey();
        mismatched["keys"] = new JsonObject { [keys.MasterKeyId] = stranger.PublicKey };
        (await alice.Client.PostAsync(UploadKeys, new JsonObject { ["master_key"] = mismatched })).ErrCode.Should().Be("M_INVALID_PARAM");

        (await alice.Client.PostAsync(UploadKeys, new JsonObject { ["master_key"] = "nope" })).ErrCode.Should().Be("M_BAD_JSON");
        (await alice.QueryAsync(alice.UserId)).GetProperty("master_keys").TryGetProperty(alice.UserId, out _).Should().BeFalse();
    }

    [Fact]
    public async Task A_cross_signing_public_key_may_not_be_a_device_id()
    {
        using var alice = await server.NewDeviceAsync();
        using var keys = new TestCrossSigning(alice.UserId);
        using var clash = await alice.LoginAgainAsync(server, deviceId: keys.Master.PublicKey);
        var response = await alice.Client.PostAsync(UploadKeys, new JsonObject { ["master_key"] = keys.MasterKey() });
        response.Status.Should().Be(HttpStatusCode.Forbidden);
        response.ErrCode.Should().Be("M_FORBIDDEN");
    }

    [Fact]
    public async Task Self_signing_signatures_on_own_devices_are_verified_stored_and_shown()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        using var keys = new TestCrossSigning(alice.UserId);
        await alice.UploadDeviceKeysAsync();
        (await alice.Client.PostAsync(UploadKeys, keys.UploadBody())).EnsureOk();

        var device = (await alice.QueryAsync(alice.UserId)).GetProperty("device_keys").GetProperty(alice.UserId).GetProperty(alice.DeviceId);
        var signed = JsonNode.Parse(device.GetRawText())!.AsObject();
        signed.Remove("unsigned");
        keys.SelfSigning.Sign(signed, alice.UserId, keys.SelfSigningKeyId);
        using var stranger = new TestSigningKey();
        var forged = JsonNode.Parse(device.GetRawText())!.AsObject();
        stranger.Sign(forged, alice.UserId, keys.SelfSigningKeyId);

        var ok = (await alice.Client.PostAsync(UploadSignatures, new JsonObject { [alice.UserId] = new JsonObject { [alice.DeviceId] = signed } })).EnsureOk().Json;
        ok.GetProperty("failures").EnumerateObject().Should().BeEmpty();
        var shown = (await bob.QueryAsync(alice.UserId)).GetProperty("device_keys").GetProperty(alice.UserId).GetProperty(alice.DeviceId);
        shown.GetProperty("signatures").GetProperty(alice.UserId).GetProperty(keys.SelfSigningKeyId).GetString()
            .Should().Be(signed["signatures"]![alice.UserId]![keys.SelfSigningKeyId]!.GetValue<string>());
        shown.GetProperty("signatures").GetProperty(alice.UserId).TryGetProperty(alice.KeyId, out _).Should().BeTrue("the device's self-signature stays");

        var failed = (await alice.Client.PostAsync(UploadSignatures, new JsonObject
        {
            [alice.UserId] = new JsonObject { [alice.DeviceId] = forged, ["NOSUCHDEVICE"] = signed.DeepClone() },
        })).EnsureOk().Json;
        failed.GetProperty("failures").GetProperty(alice.UserId).GetProperty(alice.DeviceId).GetProperty("errcode").GetString().Should().Be("M_INVALID_SIGNATURE");
        failed.GetProperty("failures").GetProperty(alice.UserId).GetProperty("NOSUCHDEVICE").GetProperty("errcode").GetString().Should().Be("M_NOT_FOUND");
    }

    [Fact]
    public async Task A_signature_on_a_changed_copy_of_the_key_is_refused()
    {
        using var alice = await server.NewDeviceAsync();
        using var keys = new TestCrossSigning(alice.UserId);
        await alice.UploadDeviceKeysAsync();
        (await alice.Client.PostAsync(UploadKeys, keys.UploadBody())).EnsureOk();
        var changed = alice.DeviceKeys(); // new curve25519 key: not what is stored
        keys.SelfSigning.Sign(changed, alice.UserId, keys.SelfSigningKeyId);
        var answer = (await alice.Client.PostAsync(UploadSignatures, new JsonObject { [alice.UserId] = new JsonObject { [alice.DeviceId] = changed } })).EnsureOk().Json;
        answer.GetProperty("failures").GetProperty(alice.UserId).GetProperty(alice.DeviceId).GetProperty("errcode").GetString().Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task A_device_signature_on_the_master_key_is_shown_to_everyone()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        using var keys = new TestCrossSigning(alice.UserId);
        await alice.UploadDeviceKeysAsync();
        (await alice.Client.PostAsync(UploadKeys, keys.UploadBody())).EnsureOk();

        var master = keys.MasterKey();
        alice.Key.Sign(master, alice.UserId, alice.KeyId);
        (await alice.Client.PostAsync(UploadSignatures, new JsonObject { [alice.UserId] = new JsonObject { [keys.Master.PublicKey] = master } }))
            .EnsureOk().Json.GetProperty("failures").EnumerateObject().Should().BeEmpty();

        var seen = (await bob.QueryAsync(alice.UserId)).GetProperty("master_keys").GetProperty(alice.UserId);
        seen.GetProperty("signatures").GetProperty(alice.UserId).GetProperty(alice.KeyId).GetString()
            .Should().Be(master["signatures"]![alice.UserId]![alice.KeyId]!.GetValue<string>());
    }

    [Fact]
    public async Task A_user_signing_signature_is_visible_only_to_the_signer()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        using var carol = await server.NewDeviceAsync();
        await alice.ShareRoomAsync(bob, carol);
        using var aliceKeys = new TestCrossSigning(alice.UserId);
        using var bobKeys = new TestCrossSigning(bob.UserId);
        (await alice.Client.PostAsync(UploadKeys, aliceKeys.UploadBody())).EnsureOk();
        (await bob.Client.PostAsync(UploadKeys, bobKeys.UploadBody())).EnsureOk();
        var aliceSince = await alice.SyncTokenAsync();
        var carolSince = await carol.SyncTokenAsync();

        var bobMaster = bobKeys.MasterKey();
        aliceKeys.UserSigning.Sign(bobMaster, alice.UserId, aliceKeys.UserSigningKeyId);
        (await alice.Client.PostAsync(UploadSignatures, new JsonObject { [bob.UserId] = new JsonObject { [bobKeys.Master.PublicKey] = bobMaster } }))
            .EnsureOk().Json.GetProperty("failures").EnumerateObject().Should().BeEmpty();

        SignedBy(await alice.QueryAsync(bob.UserId), bob.UserId, alice.UserId).Should().BeTrue();
        SignedBy(await bob.QueryAsync(bob.UserId), bob.UserId, alice.UserId).Should().BeFalse();
        SignedBy(await carol.QueryAsync(bob.UserId), bob.UserId, alice.UserId).Should().BeFalse();

        (await alice.SyncAsync(aliceSince)).Changed().Should().Contain(bob.UserId);
        (await carol.SyncAsync(carolSince)).Changed().Should().NotContain(bob.UserId);
    }

    [Fact]
    public async Task Signing_another_users_device_or_without_a_user_signing_key_fails_per_key()
    {
        using var alice = await server.NewDeviceAsync();
        using var bob = await server.NewDeviceAsync();
        using var bobKeys = new TestCrossSigning(bob.UserId);
        await bob.UploadDeviceKeysAsync();
        (await bob.Client.PostAsync(UploadKeys, bobKeys.UploadBody())).EnsureOk();
        using var aliceKeys = new TestCrossSigning(alice.UserId);
        var bobMaster = bobKeys.MasterKey();
        aliceKeys.UserSigning.Sign(bobMaster, alice.UserId, aliceKeys.UserSigningKeyId);

        var noKey = (await alice.Client.PostAsync(UploadSignatures, new JsonObject { [bob.UserId] = new JsonObject { [bobKeys.Master.PublicKey] = bobMaster.DeepClone() } })).EnsureOk().Json;
        noKey.GetProperty("failures").GetProperty(bob.UserId).GetProperty(bobKeys.Master.PublicKey).GetProperty("errcode").GetString().Should().Be("M_NOT_FOUND");

        (await alice.Client.PostAsync(UploadKeys, aliceKeys.UploadBody())).EnsureOk();
        var device = bob.DeviceKeys();
        aliceKeys.UserSigning.Sign(device, alice.UserId, aliceKeys.UserSigningKeyId);
        var deviceAnswer = (await alice.Client.PostAsync(UploadSignatures, new JsonObject { [bob.UserId] = new JsonObject { [bob.DeviceId] = device } })).EnsureOk().Json;
        deviceAnswer.GetProperty("failures").GetProperty(bob.UserId).GetProperty(bob.DeviceId).GetProperty("errcode").GetString().Should().Be("M_NOT_FOUND");

        var bad = await alice.Client.PostAsync(UploadSignatures, new JsonObject { [bob.UserId] = new JsonObject { ["x"] = "not an object" } });
        bad.Status.Should().Be(HttpStatusCode.BadRequest);
        bad.ErrCode.Should().Be("M_BAD_JSON");
    }

    [Fact]
    public async Task Replacing_the_self_signing_key_drops_its_old_signatures()
    {
        using var alice = await server.NewDeviceAsync();
        using var keys = new TestCrossSigning(alice.UserId);
        await alice.UploadDeviceKeysAsync();
        (await alice.Client.PostAsync(UploadKeys, keys.UploadBody())).EnsureOk();
        var device = JsonNode.Parse((await alice.QueryAsync(alice.UserId)).GetProperty("device_keys").GetProperty(alice.UserId).GetProperty(alice.DeviceId).GetRawText())!.AsObject();
        keys.SelfSigning.Sign(device, alice.UserId, keys.SelfSigningKeyId);
        (await alice.Client.PostAsync(UploadSignatures, new JsonObject { [alice.UserId] = new JsonObject { [alice.DeviceId] = device } })).EnsureOk();

        using var newSelfSigning = new TestSigningKey();
        var ssk = new JsonObject
        {
            ["user_id"] = alice.UserId,
            ["usage"] = new JsonArray("self_signing"),
            ["keys"] = new JsonObject { ["ed25519:" + newSelfSigning.PublicKey] = newSelfSigning.PublicKey },
        };
        keys.Master.Sign(ssk, alice.UserId, keys.MasterKeyId);
        var body = new JsonObject { ["self_signing_key"] = ssk, ["auth"] = PasswordAuth(alice.UserId, null) };
        var session = (await alice.Client.PostAsync(UploadKeys, new JsonObject { ["self_signing_key"] = ssk.DeepClone() })).Json.GetProperty("session").GetString();
        body["auth"] = PasswordAuth(alice.UserId, session);
        (await alice.Client.PostAsync(UploadKeys, body)).EnsureOk();

        var signatures = (await alice.QueryAsync(alice.UserId)).GetProperty("device_keys").GetProperty(alice.UserId).GetProperty(alice.DeviceId).GetProperty("signatures").GetProperty(alice.UserId);
        signatures.TryGetProperty(keys.SelfSigningKeyId, out _).Should().BeFalse();
        signatures.TryGetProperty(alice.KeyId, out _).Should().BeTrue();
    }

    private static bool SignedBy(JsonElement query, string target, string signer) =>
        query.GetProperty("master_keys").GetProperty(target).TryGetProperty("signatures", out var sigs) && sigs.TryGetProperty(signer, out _);
}
