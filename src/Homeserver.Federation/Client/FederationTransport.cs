using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Homeserver.Core.Configuration;
using Homeserver.Core.Net;

namespace Homeserver.Federation.Client;

/// <summary>HTTPS to other servers' addresses as discovery found them (an interface so that callers can be tested without a network).</summary>
public interface IFederationHttp
{
    /// <summary>Sends a request whose URI names the TLS host; the connection goes to <paramref name="targets"/>.</summary>
    Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, IReadOnlyList<DnsEndPoint> targets, CancellationToken ct);
}

/// <summary>
/// The HTTP machinery under every outbound server-to-server request: connects to the targets that
/// <see cref="ServerDiscovery"/> found (trying every address, refusing blacklisted ones after resolution),
/// and verifies TLS for the name discovery says (system roots plus <c>federation_custom_ca_list</c>; no
/// verification only when <c>federation_verify_certificates</c> is false, for test setups).
/// </summary>
public sealed class FederationTransport : IFederationHttp, IDisposable
{
    internal static readonly HttpRequestOptionsKey<IReadOnlyList<DnsEndPoint>> TargetsKey = new("homeserver.federation.targets");

    private readonly HttpClient _client;
    private readonly IReadOnlyList<IPNetwork> _blacklist;

    public FederationTransport(HomeserverConfig config)
    {
        var trust = new TlsTrust(config.FederationCustomCaList, config.FederationVerifyCertificates);
        _blacklist = config.IpRangeBlacklist.Select(r => IPNetwork.Parse(r)).ToList();
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = ConnectAsync,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            ConnectTimeout = TimeSpan.FromSeconds(20),
            AllowAutoRedirect = false,
            MaxConnectionsPerServer = 16,
            SslOptions = trust.ClientOptions(),
        };
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public HttpClient Client => _client;

    public void Dispose() => _client.Dispose();

    /// <summary>Sends a request whose URI names the TLS host; the connection goes to <paramref name="targets"/>.</summary>
    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, IReadOnlyList<DnsEndPoint> targets, CancellationToken ct)
    {
        request.Options.Set(TargetsKey, targets);
        return _client.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
    }

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var targets = context.InitialRequestMessage.Options.TryGetValue(TargetsKey, out var t) ? t : [context.DnsEndPoint];
        Exception? last = null;
        foreach (var target in targets)
        {
            IPAddress[] addresses;
            try
            {
                addresses = IPAddress.TryParse(target.Host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(target.Host, ct);
            }
            catch (SocketException e)
            {
                last = e;
                continue;
            }

            foreach (var address in addresses)
            {
                if (IsBlacklisted(address))
                {
                    last = new FederationException($"{target.Host} resolves to {address}, which is in ip_range_blacklist");
                    continue;
                }

                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, target.Port), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch (SocketException e)
                {
                    socket.Dispose();
                    last = e;
                }
            }
        }

        throw new HttpRequestException($"could not connect to {context.DnsEndPoint.Host}: {last?.Message ?? "no addresses"}", last);
    }

    private bool IsBlacklisted(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var range in _blacklist)
        {
            if (range.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A JSON body as peers expect it: exactly <c>application/json</c> (no charset) and a Content-Length.</summary>
    public static ByteArrayContent JsonContent(byte[] utf8Json)
    {
        var content = new ByteArrayContent(utf8Json);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }
}
