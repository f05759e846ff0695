using System.Text.Json;
using Homeserver.Core.Configuration;
using Homeserver.Federation.Client;

namespace Homeserver.Federation.Tests;

internal static class TestConfig
{
    public const string Us = "us.example";

    public static HomeserverConfig Create() => new()
    {
        ServerName = Us,
        PublicBaseUrl = new Uri("https://us.example/"),
        DataDirectory = "/tmp",
        ConfigDirectory = "/tmp",
        Listeners = [],
        SigningKeyPath = "/tmp/k",
        MediaStorePath = "/tmp/m",
    };
}

/// <summary>A federation client whose answers a test decides (by method and path), counting requests.</summary>
internal sealed class FakeFederationClient : IFederationClient
{
    public Func<HttpMethod, string, string, JsonElement?, JsonElement> Answer { get; set; } = (_, _, _, _) => throw new FederationException("no answer set");

    public List<(HttpMethod Method, string Destination, string Path, JsonElement? Body)> Requests { get; } = [];

    public string ServerName => TestConfig.Us;

    public bool MayContact(string destination) => destination != TestConfig.Us;

    public Task<JsonElement> SendAsync(HttpMethod method, string destination, string pathAndQuery, JsonElement? body, CancellationToken ct, TimeSpan? timeout = null)
    {
        lock (Requests)
        {
            Requests.Add((method, destination, pathAndQuery, body?.Clone()));
        }

        try
        {
            return Task.FromResult(Answer(method, destination, pathAndQuery, body));
        }
        catch (FederationException e)
        {
            return Task.FromException<JsonElement>(e);
        }
    }
}
