using System.Net;

namespace Homeserver.Core;

/// <summary>
/// Validation of server names: <c>hostname [ ":" port ]</c> where hostname is an IPv4 literal,
/// a bracketed IPv6 literal or a DNS name (appendices, "Server Name").
/// </summary>
public static class ServerName
{
    public static bool IsValid(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || name.Length > 255)
        {
            return false;
        }

        ReadOnlySpan<char> host;
        if (name[0] == '[')
        {
            var close = name.IndexOf(']');
            if (close < 0)
            {
                return false;
            }

            var inner = name[1..close];
            if (inner.Length < 2 || inner.Length > 45 || !IPAddress.TryParse(inner, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                return false;
            }

            var rest = name[(close + 1)..];
            return rest.IsEmpty || (rest[0] == ':' && IsPort(rest[1..]));
        }

        var colon = name.LastIndexOf(':');
        if (colon >= 0)
        {
            if (!IsPort(name[(colon + 1)..]))
            {
                return false;
            }

            host = name[..colon];
        }
        else
        {
            host = name;
        }

        if (host.IsEmpty)
        {
            return false;
        }

        foreach (var c in host)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '-' || c == '.'))
            {
                return false;
            }
        }

        // A dotted-quad-looking name must be a real IPv4 literal.
        if (LooksLikeIpv4(host))
        {
            return IPAddress.TryParse(host, out _);
        }

        return true;
    }

    /// <summary>Splits a valid server name into host (without brackets) and optional port.</summary>
    public static (string Host, int? Port) Split(string name)
    {
        if (name.StartsWith('['))
        {
            var close = name.IndexOf(']');
            var host = name[1..close];
            var rest = name[(close + 1)..];
            return (host, rest.Length > 1 ? int.Parse(rest[1..], System.Globalization.CultureInfo.InvariantCulture) : null);
        }

        var colon = name.LastIndexOf(':');
        return colon < 0 ? (name, null) : (name[..colon], int.Parse(name[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static bool IsPort(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty || s.Length > 5)
        {
            return false;
        }

        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) is > 0 and <= 65535;
    }

    private static bool LooksLikeIpv4(ReadOnlySpan<char> host)
    {
        var dots = 0;
        foreach (var c in host)
        {
            if (c == '.')
            {
                dots++;
            }
            else if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return dots == 3;
    }
}
