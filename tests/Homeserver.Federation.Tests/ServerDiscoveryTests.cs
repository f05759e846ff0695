using System.Net;
using Homeserver.Federation.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Homeserver.Federation.Tests;

/// <summary>The server-server API's "Resolving server names", step by step, with DNS and .well-known answered by fakes.</summary>
public sealed class ServerDiscoveryTests
{
    private sealed class FakeDns : IFederationDns
    {
        public Dictionary<string, List<DnsEndPoint>> Srv { get; } = new(StringComparer.Ordinal);

        public List<string> Asked { get; } = [];

        public Task<IReadOnlyList<DnsEndPoint>> ResolveSrvAsync(string serviceName, CancellationToken ct)
        {
            Asked.Add(serviceName);
            return Task.FromResult<IReadOnlyList<DnsEndPoint>>(Srv.GetValueOrDefault(serviceName) ?? []);
        }
    }

    private sealed class FakeWellKnown : IWellKnownFetcher
    {
        public Dictionary<string, (string? Delegated, TimeSpan CacheFor)> Answers { get; } = new(StringComparer.Ordinal);

        public List<string> Asked { get; } = [];

        public Task<(string? Delegated, TimeSpan CacheFor)> FetchAsync(string hostname, CancellationToken ct)
        {
            Asked.Add(hostname);
            return Task.FromResult(Answers.TryGetValue(hostname, out var a) ? a : ((string?)null, TimeSpan.FromHours(1)));
        }
    }

    private readonly FakeDns _dns = new();
    private readonly FakeWellKnown _wellKnown = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    private ServerDiscovery Discovery() => new(_dns, _wellKnown, _time, NullLogger<ServerDiscovery>.Instance);

    private static string Targets(ResolvedServer s) => string.Join(",", s.Targets.Select(t => $"{t.Host}:{t.Port}"));

    public static TheoryData<string, string, string, string> IpLiterals => new()
    {
        { "1.2.3.4", "1.2.3.4", "1.2.3.4", "1.2.3.4:8448" },
        { "1.2.3.4:8080", "1.2.3.4:8080", "1.2.3.4", "1.2.3.4:8080" },
        { "[2001:db8::1]", "[2001:db8::1]", "2001:db8::1", "2001:db8::1:8448" },
        { "[2001:db8::1]:9000", "[2001:db8::1]:9000", "2001:db8::1", "2001:db8::1:9000" },
    };

    [Theory]
    [MemberData(nameof(IpLiterals))]
    public async Task An_ip_literal_is_used_as_it_is_with_its_port_or_8448_and_nothing_is_looked_up(string name, string host, string tls, string targets)
    {
        var server = await Discovery().ResolveAsync(name, CancellationToken.None);
        server.HostHeader.Should().Be(host);
        server.TlsHostname.Should().Be(tls);
        Targets(server).Should().Be(targets);
        _wellKnown.Asked.Should().BeEmpty();
        _dns.Asked.Should().BeEmpty();
    }

    [Fact]
    public async Task A_hostname_with_an_explicit_port_is_connected_to_directly()
    {
        _wellKnown.Answers["example.org"] = ("elsewhere.example", TimeSpan.FromHours(1));
        var server = await Discovery().ResolveAsync("example.org:8443", CancellationToken.None);
        server.HostHeader.Should().Be("example.org:8443");
        server.TlsHostname.Should().Be("example.org");
        Targets(server).Should().Be("example.org:8443");
        _wellKnown.Asked.Should().BeEmpty();
        _dns.Asked.Should().BeEmpty();
    }

    [Fact]
    public async Task Well_known_delegation_with_a_port_is_connected_to_directly_with_the_delegated_name()
    {
        _wellKnown.Answers["example.org"] = ("matrix.example.net:1234", TimeSpan.FromHours(5));
        var server = await Discovery().ResolveAsync("example.org", CancellationToken.None);
        server.HostHeader.Should().Be("matrix.example.net:1234");
        server.TlsHostname.Should().Be("matrix.example.net");
        Targets(server).Should().Be("matrix.example.net:1234");
        _dns.Asked.Should().BeEmpty();
    }

    [Fact]
    public async Task Well_known_delegation_to_an_ip_literal_uses_it_with_8448()
    {
        _wellKnown.Answers["example.org"] = ("10.0.0.7", TimeSpan.FromHours(5));
        var server = await Discovery().ResolveAsync("example.org", CancellationToken.None);
        server.HostHeader.Should().Be("10.0.0.7");
        Targets(server).Should().Be("10.0.0.7:8448");
        _dns.Asked.Should().BeEmpty();
    }

    [Fact]
    public async Task Well_known_delegation_without_a_port_looks_up_matrix_fed_srv_of_the_delegated_name()
    {
        _wellKnown.Answers["example.org"] = ("matrix.example.net", TimeSpan.FromHours(5));
        _dns.Srv["_matrix-fed._tcp.matrix.example.net"] = [new DnsEndPoint("fed1.example.net", 443), new DnsEndPoint("fed2.example.net", 444)];
        _dns.Srv["_matrix._tcp.matrix.example.net"] = [new DnsEndPoint("legacy.example.net", 8449)];
        var server = await Discovery().ResolveAsync("example.org", CancellationToken.None);
        server.HostHeader.Should().Be("matrix.example.net");
        server.TlsHostname.Should().Be("matrix.example.net");
        Targets(server).Should().Be("fed1.example.net:443,fed2.example.net:444");
        _dns.Asked.Should().Equal("_matrix-fed._tcp.matrix.example.net");
    }

    [Fact]
    public async Task Well_known_delegation_falls_back_to_the_deprecated_matrix_srv_then_to_8448()
    {
        _wellKnown.Answers["a.example"] = ("matrix.a.example", TimeSpan.FromHours(5));
        _wellKnown.Answers["b.example"] = ("matrix.b.example", TimeSpan.FromHours(5));
        _dns.Srv["_matrix._tcp.matrix.a.example"] = [new DnsEndPoint("legacy.a.example", 8449)];
        var discovery = Discovery();

        Targets(await discovery.ResolveAsync("a.example", CancellationToken.None)).Should().Be("legacy.a.example:8449");
        var b = await discovery.ResolveAsync("b.example", CancellationToken.None);
        Targets(b).Should().Be("matrix.b.example:8448");
        b.HostHeader.Should().Be("matrix.b.example");
        _dns.Asked.Should().Equal("_matrix-fed._tcp.matrix.a.example", "_matrix._tcp.matrix.a.example", "_matrix-fed._tcp.matrix.b.example", "_matrix._tcp.matrix.b.example");
    }

    [Fact]
    public async Task Without_delegation_srv_of_the_hostname_is_used_with_the_hostname_for_host_and_tls()
    {
        _dns.Srv["_matrix-fed._tcp.example.org"] = [new DnsEndPoint("srv.example.org", 8500)];
        var server = await Discovery().ResolveAsync("example.org", CancellationToken.None);
        server.HostHeader.Should().Be("example.org");
        server.TlsHostname.Should().Be("example.org");
        Targets(server).Should().Be("srv.example.org:8500");
    }

    [Fact]
    public async Task Without_delegation_or_srv_the_hostname_is_used_on_port_8448()
    {
        _dns.Srv["_matrix._tcp.old.example"] = [new DnsEndPoint("legacy.old.example", 8448)];
        var discovery = Discovery();
        Targets(await discovery.ResolveAsync("old.example", CancellationToken.None)).Should().Be("legacy.old.example:8448");
        var plain = await discovery.ResolveAsync("plain.example", CancellationToken.None);
        Targets(plain).Should().Be("plain.example:8448");
        plain.HostHeader.Should().Be("plain.example");
    }

    [Fact]
    public async Task An_invalid_delegated_name_is_ignored_as_if_well_known_had_failed()
    {
        _wellKnown.Answers["example.org"] = ("not a server name!", TimeSpan.FromHours(5));
        var server = await Discovery().ResolveAsync("example.org", CancellationToken.None);
        Targets(server).Should().Be("example.org:8448");
        server.HostHeader.Should().Be("example.org");
    }

    [Fact]
    public async Task Answers_are_cached_for_as_long_as_well_known_said_then_looked_up_again()
    {
        _wellKnown.Answers["example.org"] = ("matrix.example.net:443", TimeSpan.FromHours(2));
        var discovery = Discovery();
        await discovery.ResolveAsync("example.org", CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(119));
        await discovery.ResolveAsync("example.org", CancellationToken.None);
        _wellKnown.Asked.Should().HaveCount(1);

        _wellKnown.Answers["example.org"] = ("moved.example.net:443", TimeSpan.FromHours(2));
        _time.Advance(TimeSpan.FromMinutes(2));
        Targets(await discovery.ResolveAsync("example.org", CancellationToken.None)).Should().Be("moved.example.net:443");
        _wellKnown.Asked.Should().HaveCount(2);
    }

    [Fact]
    public async Task A_failed_well_known_is_cached_for_the_error_time_too()
    {
        var discovery = Discovery();
        await discovery.ResolveAsync("down.example", CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(59));
        await discovery.ResolveAsync("down.example", CancellationToken.None);
        _wellKnown.Asked.Should().HaveCount(1);
        _time.Advance(TimeSpan.FromMinutes(2));
        await discovery.ResolveAsync("down.example", CancellationToken.None);
        _wellKnown.Asked.Should().HaveCount(2);
    }

    [Theory]
    [InlineData("")]
    [InlineData("exa mple.org")]
    [InlineData("example.org:99999")]
    [InlineData("[not-ipv6]")]
    [InlineData("300.1.1.1")]
    public async Task An_invalid_server_name_is_refused(string name)
    {
        await FluentActions.Awaiting(() => Discovery().ResolveAsync(name, CancellationToken.None)).Should().ThrowAsync<FederationException>();
    }
}
