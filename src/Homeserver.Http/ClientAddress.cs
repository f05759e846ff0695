using Homeserver.Core.Configuration;
using Microsoft.AspNetCore.Http;

namespace Homeserver.Http;

/// <summary>
/// The client's IP address: the connection's peer, or, on a listener configured with <c>x_forwarded: true</c>
/// (behind a reverse proxy), the first address of <c>X-Forwarded-For</c> as Synapse takes it. The header is
/// ignored on other listeners, where any client could forge it.
/// </summary>
public sealed class ClientAddress
{
    private readonly HashSet<int> _forwardedPorts;

    public ClientAddress(HomeserverConfig config)
    {
        _forwardedPorts = [.. config.Listeners.Where(l => l.XForwarded).Select(l => l.Port)];
    }

    public string Of(HttpContext context)
    {
        if (_forwardedPorts.Contains(context.Connection.LocalPort)
            && context.Request.Headers["X-Forwarded-For"].ToString() is { Length: > 0 } forwarded)
        {
            // Only an address is taken from the header: anything else (a hostname, junk) falls back to the peer.
            var first = forwarded.Split(',')[0].Trim();
            if (System.Net.IPAddress.TryParse(first, out var address))
            {
                return address.ToString();
            }
        }

        return context.Connection.RemoteIpAddress is { } ip
            ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString()
            : "unknown";
    }
}
