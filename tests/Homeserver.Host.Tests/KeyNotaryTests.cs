using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Crypto;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

/// <summary>Our server as a notary for other servers' keys (server-server API "Querying keys through another server").</summary>
public sealed class KeyNotaryTests(ServerWithFakeRemote fixture) : IClassFixture<ServerWithFakeRemote>
{
    private FederatedTestServer Server => fixture.Server;

    private FakeRemoteServer Remote => fixture.Remote;

    private static async Task<JsonElement> JsonOf(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    private async Task<byte[]> OurKeyAsync(string keyId) =>
        UnpaddedBase64.Decode((await JsonOf(await Server.Client.GetAsync("/_matrix/key/v2/server"))).GetProperty("verify_keys").GetProperty(keyId).GetProperty("key").GetString()!);

    [Fact]
    public async Task Another_servers_keys_are_fetched_from_it_and_signed_by_it_and_by_us()
    {
        var body = new JsonObject { ["server_keys"] = new JsonObject { [Remote.ServerName] = new JsonObject { [Remote.Key.KeyId] = new JsonObject { ["minimum_valid_until_ts"] = 0 } } } };
        var response = await Server.Client.PostAsJsonAsync("/_matrix/key/v2/query", body);
        response.StatusCode.Should().Be(HttpStatusCode.OK);

        var keys = (await JsonOf(response)).GetProperty("server_keys").EnumerateArray().ToList();
        var doc = keys.Should().ContainSingle().Subject;
        doc.GetProperty("server_name").GetString().Should().Be(Remote.ServerName);
        JsonSigning.Verify(doc, Remote.ServerName, Remote.Key.KeyId, UnpaddedBase64.Decode(Remote.Key.PublicKeyBase64)).Should().Be(SignatureVerification.Valid);
        var ours = doc.GetProperty("signatures").GetProperty(Server.ServerName).EnumerateObject().Should().ContainSingle().Subject;
        JsonSigning.Verify(doc, Server.ServerName, ours.Name, await OurKeyAsync(ours.Name)).Should().Be(SignatureVerification.Valid);

        // The GET form answers from what we keep.
        var viaGet = await JsonOf(await Server.Client.GetAsync($"/_matrix/key/v2/query/{Remote.ServerName}/{Uri.EscapeDataString(Remote.Key.KeyId)}"));
        viaGet.GetProperty("server_keys").EnumerateArray().Should().ContainSingle()
            .Which.GetProperty("verify_keys").TryGetProperty(Remote.Key.KeyId, out _).Should().BeTrue();
    }

    [Fact]
    public async Task A_malformed_query_is_a_400()
    {
        var response = await Server.Client.PostAsJsonAsync("/_matrix/key/v2/query", new JsonObject { ["server_keys"] = new JsonArray() });
        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await JsonOf(response)).GetProperty("errcode").GetString().Should().Be("M_BAD_JSON");
    }
}
