using System.Net;
using System.Security.Cryptography.X509Certificates;
using FluentAssertions;
using Homeserver.Core.Net;
using Homeserver.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Homeserver.Host.Tests;

/// <summary>
/// The non-federation outbound clients (push gateways, URL previews) verify TLS against the system's roots plus
/// <c>outbound_http_custom_ca_list</c>: a gateway whose certificate an internal CA signed is reached once that CA
/// is configured, and refused without it.
/// </summary>
public sealed class OutboundTlsTrustTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private int _port;

    public async Task InitializeAsync()
    {
        var certificates = TestCertificates.Instance;
        _port = TestServer.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, _port,
            o => o.UseHttps(X509Certificate2.CreateFromPemFile(certificates.CertificatePath, certificates.KeyPath))));
        _app = builder.Build();
        _app.MapGet("/ping", () => "pong");
        await _app.StartAsync();
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task A_server_signed_by_a_configured_ca_is_trusted()
    {
        var filter = new OutboundAddressFilter([], trust: new TlsTrust([TestCertificates.Instance.CaPath]));
        using var http = new HttpClient(filter.CreateHandler(TimeSpan.FromSeconds(5)));

        var answer = await http.GetStringAsync($"https://localhost:{_port}/ping");

        answer.Should().Be("pong");
    }

    [Fact]
    public async Task Without_the_ca_the_certificate_is_refused()
    {
        var filter = new OutboundAddressFilter([]);
        using var http = new HttpClient(filter.CreateHandler(TimeSpan.FromSeconds(5)));

        var act = () => http.GetStringAsync($"https://localhost:{_port}/ping");

        await act.Should().ThrowAsync<HttpRequestException>();
    }

    [Fact]
    public async Task A_configured_ca_does_not_excuse_a_name_mismatch()
    {
        // The certificate names localhost and the loopback addresses, not this name.
        var filter = new OutboundAddressFilter([], trust: new TlsTrust([TestCertificates.Instance.CaPath]));
        using var handler = filter.CreateHandler(TimeSpan.FromSeconds(5));
        using var http = new HttpClient(handler);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"https://localhost:{_port}/ping");
        request.Headers.Host = $"not-localhost.example:{_port}";
        handler.SslOptions.TargetHost = "not-localhost.example";

        var act = () => http.SendAsync(request);

        await act.Should().ThrowAsync<HttpRequestException>();
    }
}
