using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

/// <summary>Our server (federating, on loopback) and a fake remote server that signs what it sends: the class fixture
/// of the tests that play another server against ours.</summary>
public sealed class ServerWithFakeRemote : IAsyncLifetime
{
    public FederatedTestServer Server { get; } = new();

    public FakeRemoteServer Remote { get; } = new();

    public async Task InitializeAsync()
    {
        await Remote.InitializeAsync();
        await Server.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Remote.DisposeAsync();
    }
}
