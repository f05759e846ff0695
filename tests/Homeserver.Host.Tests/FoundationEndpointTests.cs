using System.Net;
using System.Text.Json;
using Homeserver.Crypto;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

public sealed class FoundationEndpointTests(TestServer server) : IClassFixture<TestServer>
{
    private readonly HttpClient _http = server.Client;

    private static async Task<JsonElement> JsonOf(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    [Fact]
    public async Task Versions_lists_spec_versions_and_unstable_features()
    {
        var response = await _http.GetAsync("/_matrix/client/versions");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        var json = await JsonOf(response);
        json.GetProperty("versions").EnumerateArray().Select(v => v.GetString()).Should().Contain(["r0.6.1", "v1.1"]);
        json.GetProperty("unstable_features").ValueKind.Should().Be(JsonValueKind.Object);
    }

    [Fact]
    public async Task Client_well_known_points_at_the_public_base_url()
    {
        var json = await JsonOf(await _http.GetAsync("/.well-known/matrix/client"));
        json.GetProperty("m.homeserver").GetProperty("base_url").GetString().Should().Be(server.Config.PublicBaseUrl.AbsoluteUri.TrimEnd('/'));
    }

    [Fact]
    public async Task Server_well_known_is_not_found_when_not_configured()
    {
        var response = await _http.GetAsync("/.well-known/matrix/server");
        response.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await JsonOf(response)).GetProperty("errcode").GetString().Should().Be("M_NOT_FOUND");
    }

    [Fact]
    public async Task Server_keys_are_self_signed_and_valid_in_the_future()
    {
        var json = await JsonOf(await _http.GetAsync("/_matrix/key/v2/server"));
        json.GetProperty("server_name").GetString().Should().Be(server.ServerName);
        json.GetProperty("valid_until_ts").GetInt64().Should().BeGreaterThan(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        json.GetProperty("old_verify_keys").ValueKind.Should().Be(JsonValueKind.Object);
        var keys = json.GetProperty("verify_keys").EnumerateObject().ToList();
        keys.Should().ContainSingle();
        var keyId = keys[0].Name;
        keyId.Should().StartWith("ed25519:");
        var publicKey = UnpaddedBase64.Decode(keys[0].Value.GetProperty("key").GetString()!);
        JsonSigning.Verify(json, server.ServerName, keyId, publicKey).Should().Be(SignatureVerification.Valid);
    }

    [Fact]
    public async Task Server_keys_are_served_on_the_deprecated_key_id_path_too()
    {
        var response = await _http.GetAsync("/_matrix/key/v2/server/ed25519%3Atest");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await JsonOf(response)).GetProperty("server_name").GetString().Should().Be(server.ServerName);
    }

    [Fact]
    public async Task Federation_version_names_the_software()
    {
        var json = await JsonOf(await _http.GetAsync("/_matrix/federation/v1/version"));
        json.GetProperty("server").GetProperty("name").GetString().Should().Be("Homeserver");
    }

    [Theory]
    [InlineData("/_matrix/client/v3/no_such_endpoint")]
    [InlineData("/_matrix/federation/v1/nothing_here")]
    [InlineData("/anything/else")]
    public async Task Unknown_endpoints_answer_404_M_UNRECOGNIZED(string path)
    {
        var response = await _http.GetAsync(path);
        response.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await JsonOf(response)).GetProperty("errcode").GetString().Should().Be("M_UNRECOGNIZED");
    }

    [Fact]
    public async Task A_wrong_method_answers_405_M_UNRECOGNIZED()
    {
        var response = await _http.DeleteAsync("/_matrix/client/versions");
        response.StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed);
        (await JsonOf(response)).GetProperty("errcode").GetString().Should().Be("M_UNRECOGNIZED");
    }

    [Fact]
    public async Task Every_answer_carries_the_cors_headers()
    {
        foreach (var path in new[] { "/_matrix/client/versions", "/_matrix/client/v3/no_such_endpoint" })
        {
            var response = await _http.GetAsync(path);
            response.Headers.GetValues("Access-Control-Allow-Origin").Should().Equal("*");
            response.Headers.GetValues("Access-Control-Allow-Methods").Single().Should().Contain("PUT").And.Contain("OPTIONS");
            response.Headers.GetValues("Access-Control-Allow-Headers").Single().Should().Contain("Authorization");
        }
    }

    [Fact]
    public async Task Preflight_requests_are_answered_with_200()
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/_matrix/client/v3/login");
        request.Headers.Add("Origin", "https://app.element.io");
        request.Headers.Add("Access-Control-Request-Method", "POST");
        var response = await _http.SendAsync(request);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        response.Headers.GetValues("Access-Control-Allow-Origin").Should().Equal("*");
    }
}
