using System.Net;
using System.Net.Http;
using System.Net.Sockets;

namespace Homeserver.Core.Net;

/// <summary>
/// Refuses outbound connections to denied address ranges (SSRF protection for URL previews, push gateways...).
/// The check runs in <see cref="SocketsHttpHandler.ConnectCallback"/>, on the addresses the connection is actually
/// made to, after DNS resolution: a name that resolves to a private address (or is re-bound to one between two
/// lookups) is refused as surely as an IP literal, and redirects are checked the same way because every new
/// connection goes through the callback. Proxies are never used, so the check cannot be bypassed through one.
/// </summary>
public sealed class OutboundAddressFilter
{
    private readonly IPNetwork[] _denied;
    private readonly IPNetwork[] _allowed;
    private readonly TlsTrust _trust;

    public OutboundAddressFilter(IEnumerable<string> denied, IEnumerable<string>? allowed = null, TlsTrust? trust = null)
    {
        _trust = trust ?? TlsTrust.SystemDefault;
        _denied = denied.Select(IPNetwork.Parse).ToArray();
        _allowed = (allowed ?? []).Select(IPNetwork.Parse).ToArray();
    }

    /// <summary>Whether a connection to <paramref name="address"/> is allowed (IPv4-mapped IPv6 is checked as IPv4 too).</summary>
    public bool IsAllowed(IPAddress address)
    {
        var candidates = address.IsIPv4MappedToIPv6 ? new[] { address, address.MapToIPv4() } : [address];
        foreach (var a in candidates)
        {
            if (_allowed.Any(n => n.Contains(a)))
            {
                return true;
            }
        }

        foreach (var a in candidates)
        {
            if (_denied.Any(n => n.Contains(a)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A handler whose every connection is checked; no proxy, no cookies, bounded redirects, TLS trust as configured.</summary>
    public SocketsHttpHandler CreateHandler(TimeSpan connectTimeout, int maxRedirects = 5) => new()
    {
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = maxRedirects > 0,
        MaxAutomaticRedirections = Math.Max(1, maxRedirects),
        ConnectTimeout = connectTimeout,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        AutomaticDecompression = DecompressionMethods.None,
        ConnectCallback = ConnectAsync,
        SslOptions = _trust.ClientOptions(),
    };

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        var isLiteral = IPAddress.TryParse(host.Trim('[', ']'), out var literal);
        IPAddress[] addresses;
        if (isLiteral)
        {
            addresses = [literal!];
        }
        else
        {
            try
            {
                addresses = await Dns.GetHostAddressesAsync(host, ct);
            }
            catch (SocketException e)
            {
                throw new OutboundAddressDeniedException(host, isLiteral: false, $"cannot resolve {host}: {e.SocketErrorCode}", resolveFailed: true);
            }
        }

        var allowed = addresses.Where(IsAllowed).ToList();
        if (allowed.Count == 0)
        {
            throw new OutboundAddressDeniedException(host, isLiteral, $"{host} resolves only to denied addresses");
        }

        Exception? last = null;
        foreach (var address in allowed)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw last ?? new SocketException((int)SocketError.HostUnreachable);
    }

    /// <summary>Finds the denial behind an <see cref="HttpRequestException"/>, if that is why the request failed.</summary>
    public static OutboundAddressDeniedException? DenialOf(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is OutboundAddressDeniedException denied)
            {
                return denied;
            }
        }

        return null;
    }
}

/// <summary>A connection refused by <see cref="OutboundAddressFilter"/> (or a name that did not resolve).</summary>
public sealed class OutboundAddressDeniedException(string host, bool isLiteral, string message, bool resolveFailed = false) : IOException(message)
{
    public string Host { get; } = host;

    /// <summary>The URL named an IP address (rather than a DNS name).</summary>
    public bool IsLiteral { get; } = isLiteral;

    public bool ResolveFailed { get; } = resolveFailed;
}
