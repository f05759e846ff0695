using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Crypto;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

/// <summary>Checks an event the way another server would: against the signing keys <paramref name="server"/> publishes.</summary>
internal static class OurSignature
{
    public static async Task<bool> VerifiesAsync(TestServer server, JsonElement pdu, RoomVersion version)
    {
        using var response = await server.Client.GetAsync("/_matrix/key/v2/server");
        using var keys = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        foreach (var key in keys.RootElement.GetProperty("verify_keys").EnumerateObject())
        {
            var publicKey = UnpaddedBase64.Decode(key.Value.GetProperty("key").GetString()!);
            if (EventSigning.VerifySignature(pdu, version, server.ServerName, key.Name, publicKey) == SignatureVerification.Valid)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The PDU without the <c>event_id</c> that the federation form for clients adds (v3+ events do not carry one).</summary>
    public static JsonElement WithoutEventId(JsonElement pdu)
    {
        var copy = JsonNode.Parse(pdu.GetRawText())!.AsObject();
        copy.Remove("event_id");
        return JsonSerializer.SerializeToElement(copy);
    }
}
