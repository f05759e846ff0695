using System.Net;
using Homeserver.Core.Net;

namespace Homeserver.Media.Tests;

public sealed class OutboundAddressFilterTests
{
    private static readonly OutboundAddressFilter Filter = new(["127.0.0.0/8", "10.0.0.0/8", "::1/128", "fc00::/7"], ["10.1.2.0/24"]);

    [Theory]
    [InlineData("127.0.0.1", false)]
    [InlineData("127.255.0.9", false)]
    [InlineData("::1", false)]
    [InlineData("::ffff:127.0.0.1", false)]
    [InlineData("fd00::5", false)]
    [InlineData("10.9.9.9", false)]
    [InlineData("10.1.2.3", true)]
    [InlineData("93.184.216.34", true)]
    [InlineData("2001:4860::8888", true)]
    public void Denied_ranges_are_refused_and_allowed_ranges_excepted(string address, bool allowed) =>
        Filter.IsAllowed(IPAddress.Parse(address)).Should().Be(allowed);

    [Fact]
    public async Task A_connection_through_a_name_that_resolves_to_loopback_never_opens()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var client = new HttpClient(Filter.CreateHandler(TimeSpan.FromSeconds(5)));
        var act = () => client.GetAsync($"http://localhost:{port}/");
        var e = await act.Should().ThrowAsync<HttpRequestException>();
        OutboundAddressFilter.DenialOf(e.Which)!.IsLiteral.Should().BeFalse();
        listener.Pending().Should().BeFalse("no connection reached the listener");
    }
}
