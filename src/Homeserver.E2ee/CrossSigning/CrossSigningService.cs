using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Crypto;
using Homeserver.E2ee.DeviceLists;
using Homeserver.E2ee.Keys;

namespace Homeserver.E2ee.CrossSigning;

/// <summary>What a cross-signing key upload needs before it may run.</summary>
public enum CrossSigningUploadAuth
{
    /// <summary>Every key in the request is already stored exactly so: nothing to do (a retried request).</summary>
    NothingNew,

    /// <summary>The user has no master key yet: first-time setup needs no user-interactive auth.</summary>
    NotRequired,

    /// <summary>Existing keys would be replaced: user-interactive auth is required.</summary>
    Required,
}

/// <summary>
/// Cross-signing (client-server API "Cross-signing"): <c>POST /keys/device_signing/upload</c> and
/// <c>POST /keys/signatures/upload</c>. Every signature is verified before it is stored.
///
/// Key upload, in order: 1. the master key (uploaded, else stored) must exist; 2. each uploaded key is checked
/// (owner, usage, one ed25519 key; self-signing and user-signing keys signed by that master key); 3. no public key may
/// equal one of the user's device IDs (403); 4. the keys are stored, signatures made by replaced keys are dropped,
/// and a master or self-signing change is a device list change for everyone sharing a room, a user-signing change
/// only for the user.
/// </summary>
public sealed class CrossSigningService(
    ICrossSigningStore store,
    IDeviceKeyStore deviceKeys,
    DeviceListService deviceLists,
    StreamPositions streams,
    TimeProvider time)
{
    private static readonly (string Field, string Type)[] Fields =
        [("master_key", CrossSigningKeyTypes.Master), ("self_signing_key", CrossSigningKeyTypes.SelfSigning), ("user_signing_key", CrossSigningKeyTypes.UserSigning)];

    /// <summary>
    /// Whether the upload needs user-interactive auth (spec since v1.11): not for a first master key, not when every
    /// uploaded key equals the stored one; otherwise it does.
    /// </summary>
    public async Task<CrossSigningUploadAuth> GetRequiredAuthAsync(string userId, JsonElement body, CancellationToken ct)
    {
        var stored = (await store.GetKeysAsync([userId], ct)).ToDictionary(k => k.KeyType, StringComparer.Ordinal);
        var anyDifferent = false;
        foreach (var (field, type) in Fields)
        {
            if (E2eeKeyService.Optional(body, field) is not { } uploaded)
            {
                continue;
            }

            if (!stored.TryGetValue(type, out var existing) || uploaded.ValueKind != JsonValueKind.Object
                || CanonicalOrNull(uploaded) != existing.KeyJson)
            {
                anyDifferent = true;
            }
        }

        if (!anyDifferent)
        {
            return CrossSigningUploadAuth.NothingNew;
        }

        return stored.ContainsKey(CrossSigningKeyTypes.Master) ? CrossSigningUploadAuth.Required : CrossSigningUploadAuth.NotRequired;
    }

    /// <summary>Validates and stores the uploaded cross-signing keys (see the class comment for the steps).</summary>
    public async Task UploadKeysAsync(string userId, JsonElement body, CancellationToken ct)
    {
        var stored = (await store.GetKeysAsync([userId], ct)).ToDictionary(k => k.KeyType, StringComparer.Ordinal);

        // 1-2. The master key: uploaded (checked) or stored; every other key must be signed by it.
        ParsedCrossSigningKey? master;
        var uploaded = new List<ParsedCrossSigningKey>();
        if (E2eeKeyService.Optional(body, "master_key") is { } masterJson)
        {
            master = CrossSigningKeyValidator.Validate(masterJson, userId, CrossSigningKeyTypes.Master, null);
            uploaded.Add(master);
        }
        else
        {
            master = stored.TryGetValue(CrossSigningKeyTypes.Master, out var m) ? CrossSigningKeyValidator.FromStored(m) : null;
        }

        if (E2eeKeyService.Optional(body, "self_signing_key") is { } ssk)
        {
            uploaded.Add(CrossSigningKeyValidator.Validate(ssk, userId, CrossSigningKeyTypes.SelfSigning, master ?? throw NoMasterKey()));
        }

        if (E2eeKeyService.Optional(body, "user_signing_key") is { } usk)
        {
            uploaded.Add(CrossSigningKeyValidator.Validate(usk, userId, CrossSigningKeyTypes.UserSigning, master ?? throw NoMasterKey()));
        }

        if (uploaded.Count == 0)
        {
            return;
        }

        // 3. Key IDs and device IDs share a namespace ("ed25519:<id>"): a public key must not be a device ID.
        var devices = (await deviceKeys.GetDeviceIdsAsync(userId, ct)).ToHashSet(StringComparer.Ordinal);
        if (uploaded.Any(k => devices.Contains(k.PublicKey)))
        {
            throw MatrixException.Forbidden("Key ID in use: a cross-signing public key must not be one of the user's device IDs");
        }

        // 4. Store; signatures made by (or, for the master key, on) the keys being replaced no longer mean anything.
        var droppedSigners = new List<string>();
        var droppedTargets = new List<string>();
        foreach (var key in uploaded)
        {
            if (stored.TryGetValue(key.KeyType, out var old) && old.PublicKey != key.PublicKey)
            {
                if (key.KeyType == CrossSigningKeyTypes.Master)
                {
                    droppedTargets.Add(old.PublicKey);
                }
                else
                {
                    droppedSigners.Add(old.KeyId);
                }
            }
        }

        var changes = new List<DeviceListChange>();
        var publicChange = uploaded.Any(k => k.KeyType != CrossSigningKeyTypes.UserSigning);
        changes.Add(publicChange ? new DeviceListChange(userId) : new DeviceListChange(userId, userId));
        var records = uploaded.Select(k => new StoredCrossSigningKey(userId, k.KeyType, k.PublicKey, k.CanonicalJson)).ToList();
        long position;
        using (var reservation = streams.Reserve())
        {
            await store.SaveKeysAsync(userId, records, droppedSigners, droppedTargets, reservation.First, changes, time.GetUtcNow().ToUnixTimeMilliseconds(), ct);
            position = reservation.First;
        }

        await deviceLists.PublishAsync(position, changes, publicChange ? new DeviceListUpdate(userId, [], false, true, position) : null);
    }

    private static MatrixException NoMasterKey() => MatrixException.MissingParam("No master key available: upload a master key first");

    private static string? CanonicalOrNull(JsonElement value)
    {
        try
        {
            return E2eeJson.ToCanonicalText(value);
        }
        catch (MatrixException)
        {
            return null;
        }
    }

    /// <summary>
    /// <c>POST /keys/signatures/upload</c>. Accepted signatures: the user's self-signing key on the user's own device
    /// keys; the user's devices on the user's master key; the user's user-signing key on another user's master key.
    /// Each signed object must be the stored key plus signatures. Failures are reported per user and key ID
    /// (<c>M_INVALID_SIGNATURE</c> for a bad signature), the rest are stored.
    /// </summary>
    public async Task<JsonObject> UploadSignaturesAsync(string userId, JsonElement body, CancellationToken ct)
    {
        var failures = new JsonObject();
        var accepted = new List<StoredSignature>();
        var changes = new List<DeviceListChange>();
        var selfDevices = new List<string>();

        // Shape first: a request that is not user → key ID → object is refused as a whole.
        foreach (var user in body.EnumerateObject())
        {
            if (user.Value.ValueKind != JsonValueKind.Object || user.Value.EnumerateObject().Any(k => k.Value.ValueKind != JsonValueKind.Object))
            {
                throw MatrixException.BadJson("The body must map user IDs to key IDs to signed objects");
            }
        }

        var targets = body.EnumerateObject().Select(u => u.Name).Where(MatrixId.IsValidUserId).Append(userId).Distinct(StringComparer.Ordinal).ToList();
        var keysByUser = (await store.GetKeysAsync(targets, ct)).ToLookup(k => k.UserId, StringComparer.Ordinal);
        var mine = keysByUser[userId].ToDictionary(k => k.KeyType, StringComparer.Ordinal);

        foreach (var user in body.EnumerateObject())
        {
            var target = user.Name;
            if (target == userId)
            {
                var myDevices = (await deviceKeys.GetDeviceKeysForUsersAsync([userId], ct)).ToDictionary(d => d.DeviceId, StringComparer.Ordinal);
                foreach (var item in user.Value.EnumerateObject())
                {
                    try
                    {
                        if (mine.TryGetValue(CrossSigningKeyTypes.Master, out var master) && item.Name == master.PublicKey)
                        {
                            accepted.AddRange(CheckMasterKeySignatures(userId, item.Value, master, myDevices));
                        }
                        else
                        {
                            accepted.Add(CheckDeviceSignature(userId, item.Name, item.Value, mine.GetValueOrDefault(CrossSigningKeyTypes.SelfSigning), myDevices));
                            selfDevices.Add(item.Name);
                        }
                    }
                    catch (MatrixException e)
                    {
                        AddFailure(failures, target, item.Name, e);
                    }
                }

                continue;
            }

            var targetMaster = MatrixId.IsValidUserId(target) ? keysByUser[target].FirstOrDefault(k => k.KeyType == CrossSigningKeyTypes.Master) : null;
            foreach (var item in user.Value.EnumerateObject())
            {
                try
                {
                    accepted.Add(CheckUserSignature(userId, target, item.Name, item.Value, mine.GetValueOrDefault(CrossSigningKeyTypes.UserSigning), targetMaster));
                    changes.Add(new DeviceListChange(target, userId));
                }
                catch (MatrixException e)
                {
                    AddFailure(failures, target, item.Name, e);
                }
            }
        }

        if (accepted.Any(s => s.TargetUserId == userId))
        {
            changes.Add(new DeviceListChange(userId));
        }

        if (accepted.Count > 0)
        {
            long position;
            using (var reservation = streams.Reserve())
            {
                await store.SaveSignaturesAsync(accepted, reservation.First, changes, time.GetUtcNow().ToUnixTimeMilliseconds(), ct);
                position = reservation.First;
            }

            // Signatures on the user's own devices change those devices (m.device_list_update); signatures on the master
            // key change the cross-signing keys (m.signing_key_update). One upload may do both.
            var masterSigned = accepted.Any(s => s.TargetUserId == userId && !selfDevices.Contains(s.TargetKeyId));
            var update = accepted.Any(s => s.TargetUserId == userId) ? new DeviceListUpdate(userId, selfDevices, false, masterSigned, position) : null;
            await deviceLists.PublishAsync(position, changes, update);
        }

        return new JsonObject { ["failures"] = failures };
    }

    /// <summary>The user's own device, signed by the user's self-signing key.</summary>
    private static StoredSignature CheckDeviceSignature(
        string userId, string deviceId, JsonElement signed, StoredCrossSigningKey? selfSigning, Dictionary<string, StoredDeviceKeys> devices)
    {
        if (selfSigning is null)
        {
            throw MatrixException.NotFound("No self-signing key found");
        }

        if (!devices.TryGetValue(deviceId, out var device))
        {
            throw MatrixException.NotFound("Unknown device");
        }

        RequireSameKey(device.KeyJson, signed);
        return new StoredSignature(userId, selfSigning.KeyId, userId, deviceId, Verify(signed, userId, selfSigning.KeyId, selfSigning.PublicKey));
    }

    /// <summary>The user's master key, signed by one or more of the user's devices.</summary>
    private static List<StoredSignature> CheckMasterKeySignatures(
        string userId, JsonElement signed, StoredCrossSigningKey master, Dictionary<string, StoredDeviceKeys> devices)
    {
        RequireSameKey(master.KeyJson, signed);
        var result = new List<StoredSignature>();
        foreach (var keyId in JsonSigning.GetSignatureKeyIds(signed, userId))
        {
            if (keyId == master.KeyId)
            {
                continue; // the master key's own signature, if any, is part of the stored key
            }

            if (!E2eeJson.TrySplitKeyId(keyId, out var algorithm, out var deviceId) || algorithm != "ed25519"
                || !devices.TryGetValue(deviceId, out var device) || KeyUploadParser.Ed25519KeyOf(device.KeyJson, deviceId) is not { } deviceKey)
            {
                throw E2eeErrorCodes.InvalidSignature($"Invalid signature: {keyId} is not a device of {userId}");
            }

            result.Add(new StoredSignature(userId, keyId, userId, master.PublicKey, Verify(signed, userId, keyId, UnpaddedBase64.Encode(deviceKey))));
        }

        if (result.Count == 0)
        {
            throw E2eeErrorCodes.InvalidSignature("No signature by one of the user's devices");
        }

        return result;
    }

    /// <summary>Another user's master key, signed by the user's user-signing key.</summary>
    private static StoredSignature CheckUserSignature(
        string userId, string target, string keyId, JsonElement signed, StoredCrossSigningKey? userSigning, StoredCrossSigningKey? targetMaster)
    {
        if (userSigning is null)
        {
            throw MatrixException.NotFound("No user-signing key found");
        }

        if (targetMaster is null || targetMaster.PublicKey != keyId)
        {
            throw MatrixException.NotFound("Unknown device: only the user's master key can be signed");
        }

        RequireSameKey(targetMaster.KeyJson, signed);
        return new StoredSignature(userId, userSigning.KeyId, target, targetMaster.PublicKey, Verify(signed, userId, userSigning.KeyId, userSigning.PublicKey));
    }

    private static void RequireSameKey(string storedJson, JsonElement signed)
    {
        if (!E2eeJson.SameSignedPart(storedJson, signed))
        {
            throw MatrixException.InvalidParam("Key does not match the stored key");
        }
    }

    /// <summary>Checks <c>signatures[signer][keyId]</c> against the public key; returns the signature.</summary>
    private static string Verify(JsonElement signed, string signer, string keyId, string publicKey)
    {
        var signature = E2eeJson.GetSignature(signed, signer, keyId);
        if (signature is null || E2eeJson.DecodeEd25519PublicKey(publicKey) is not { } key
            || JsonSigning.Verify(signed, signer, keyId, key) != SignatureVerification.Valid)
        {
            throw E2eeErrorCodes.InvalidSignature("Invalid signature");
        }

        return signature;
    }

    private static void AddFailure(JsonObject failures, string userId, string keyId, MatrixException e)
    {
        if (failures[userId] is not JsonObject forUser)
        {
            failures[userId] = forUser = new JsonObject();
        }

        forUser[keyId] = new JsonObject { ["errcode"] = e.ErrorCode, ["error"] = e.Message, ["status"] = e.HttpStatus };
    }
}
