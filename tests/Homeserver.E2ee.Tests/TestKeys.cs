using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Crypto;

namespace Homeserver.E2ee.Tests;

/// <summary>An ed25519 key that signs JSON under any key ID, and JSON helpers.</summary>
internal sealed class TestKey : IDisposable
{
    private readonly Ed25519SigningKey _key = Ed25519SigningKey.Generate("t");

    public string PublicKey => _key.PublicKeyBase64;

    public JsonObject Sign(JsonObject obj, string signer, string keyId)
    {
        var copy = obj.DeepClone().AsObject();
        copy.Remove("signatures");
        copy.Remove("unsigned");
        var signature = _key.SignToBase64(CanonicalJson.Encode(copy));
        if (obj["signatures"] is not JsonObject signatures)
        {
            obj["signatures"] = signatures = new JsonObject();
        }

        if (signatures[signer] is not JsonObject forSigner)
        {
            signatures[signer] = forSigner = new JsonObject();
        }

        forSigner[keyId] = signature;
        return obj;
    }

    public void Dispose() => _key.Dispose();

    public static JsonElement Element(JsonNode node)
    {
        using var doc = JsonDocument.Parse(node.ToJsonString());
        return doc.RootElement.Clone();
    }
}
