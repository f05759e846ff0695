using System.Text.Json.Nodes;
using Homeserver.Core.Configuration;
using Homeserver.Crypto;

namespace Homeserver.Federation;

/// <summary>
/// Our server's signing identity: the current Ed25519 key, the old keys we still publish as
/// <c>old_verify_keys</c>, and how long published keys stay valid.
/// </summary>
public sealed class ServerKeys(string serverName, Ed25519SigningKey current, IReadOnlyList<OldSigningKey> oldKeys, TimeSpan validity)
{
    public string ServerName { get; } = serverName;

    public Ed25519SigningKey Current { get; } = current;

    public IReadOnlyList<OldSigningKey> OldKeys { get; } = oldKeys;

    public TimeSpan Validity { get; } = validity;

    /// <summary>
    /// The self-signed key document of <c>GET /_matrix/key/v2/server</c>
    /// (https://spec.matrix.org/v1.19/server-server-api/#get_matrixkeyv2server).
    /// </summary>
    public JsonObject BuildKeyDocument(DateTimeOffset now)
    {
        var oldVerifyKeys = new JsonObject();
        foreach (var old in OldKeys)
        {
            oldVerifyKeys[old.KeyId] = new JsonObject { ["key"] = old.PublicKeyBase64, ["expired_ts"] = old.ExpiredTs };
        }

        var doc = new JsonObject
        {
            ["server_name"] = ServerName,
            ["valid_until_ts"] = (now + Validity).ToUnixTimeMilliseconds(),
            ["verify_keys"] = new JsonObject
            {
                [Current.KeyId] = new JsonObject { ["key"] = UnpaddedBase64.Encode(Current.PublicKey) },
            },
            ["old_verify_keys"] = oldVerifyKeys,
        };
        JsonSigning.SignInPlace(doc, ServerName, Current);
        return doc;
    }
}
