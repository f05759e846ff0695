using System.Text;

namespace Homeserver.Core;

/// <summary>
/// Parsing and validation of the sigil identifiers (appendices, "Common Identifier Format").
/// IDs travel as strings through the server; these helpers check and split them at the edges.
/// </summary>
public static class MatrixId
{
    public const int MaxLength = 255;

    /// <summary>Splits <c>&amp;localpart:domain</c> at the first colon; false if the sigil or shape is wrong.</summary>
    public static bool TrySplit(string? id, char sigil, out string localpart, out string domain)
    {
        localpart = domain = string.Empty;
        if (string.IsNullOrEmpty(id) || id[0] != sigil || Encoding.UTF8.GetByteCount(id) > MaxLength)
        {
            return false;
        }

        var colon = id.IndexOf(':', 1);
        if (colon < 0)
        {
            return false;
        }

        localpart = id[1..colon];
        domain = id[(colon + 1)..];
        return ServerName.IsValid(domain) && !localpart.Contains('\0');
    }

    /// <summary>A user ID accepted from the network: historical localparts allowed (any code point but ':' and NUL).</summary>
    public static bool IsValidUserId(string? id) => TrySplit(id, '@', out _, out _);

    /// <summary>A user ID localpart that we may allocate: <c>[a-z0-9._=/+-]+</c>.</summary>
    public static bool IsValidNewLocalpart(ReadOnlySpan<char> localpart)
    {
        if (localpart.IsEmpty)
        {
            return false;
        }

        foreach (var c in localpart)
        {
            if (!(c is >= 'a' and <= 'z' || char.IsAsciiDigit(c) || c is '-' or '.' or '=' or '_' or '/' or '+'))
            {
                return false;
            }
        }

        return true;
    }

    public static string UserId(string localpart, string serverName) => "@" + localpart + ":" + serverName;

    public static string? ServerOf(string id)
    {
        var colon = id.IndexOf(':', 1);
        return colon < 0 ? null : id[(colon + 1)..];
    }

    public static string? LocalpartOf(string id)
    {
        var colon = id.IndexOf(':', 1);
        return colon < 0 ? null : id[1..colon];
    }

    /// <summary>A room ID: <c>!opaque:domain</c> (v1-v11) or <c>!hash</c> (v12 and later).</summary>
    public static bool IsValidRoomId(string? id) =>
        !string.IsNullOrEmpty(id) && id[0] == '!' && id.Length > 1 && Encoding.UTF8.GetByteCount(id) <= MaxLength && !id.Contains('\0');

    public static bool IsValidRoomAlias(string? alias) => TrySplit(alias, '#', out _, out _);

    public static bool IsValidEventId(string? id) =>
        !string.IsNullOrEmpty(id) && id[0] == '$' && id.Length > 1 && Encoding.UTF8.GetByteCount(id) <= MaxLength;
}
