using Homeserver.TestKit;

namespace Homeserver.Host.Tests;

/// <summary>One of our servers (<typeparamref name="TServer"/>, federating on loopback) and a fake remote server that
/// signs what it sends: the class fixture of the tests that play another server against ours.</summary>
public class ServerWithFakeRemote<TServer> : IAsyncLifetime
    where TServer : TestServer, new()
{
    public TServer Server { get; } = new();

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

/// <summary>Our default federating server and a fake remote server.</summary>
public sealed class ServerWithFakeRemote : ServerWithFakeRemote<FederatedTestServer>;
