using System.Net;
using System.Text.Json;
using Homeserver.Core.Text;

namespace Homeserver.Rooms;

/// <summary>
/// A room's server access control list (client-server API, "Server Access Control Lists (ACLs) for rooms"; the
/// <c>m.room.server_acl</c> event): which servers may take part in the room over federation. Pure: built from the
/// event's content, asked about one server name at a time.
/// </summary>
public sealed class ServerAcl
{
    public const string EventType = "m.room.server_acl";

    private readonly IReadOnlyList<Glob> _allow;
    private readonly IReadOnlyList<Glob> _deny;
    private readonly bool _allowIpLiterals;

    private ServerAcl(IReadOnlyList<Glob> allow, IReadOnlyList<Glob> deny, bool allowIpLiterals)
    {
        _allow = allow;
        _deny = deny;
        _allowIpLiterals = allowIpLiterals;
    }

    /// <summary>
    /// The ACL of an <c>m.room.server_acl</c> content. Missing or malformed lists are empty (so a missing
    /// <c>allow</c> denies everyone, as the spec warns); entries that are not strings are skipped, as Synapse does;
    /// <c>allow_ip_literals</c> is true unless it is the boolean <c>false</c>.
    /// </summary>
    public static ServerAcl FromContent(JsonElement content)
    {
        var isObject = content.ValueKind == JsonValueKind.Object;
        var allowIp = !(isObject && content.TryGetProperty("allow_ip_literals", out var ip) && ip.ValueKind == JsonValueKind.False);
        return new ServerAcl(Globs(content, "allow", isObject), Globs(content, "deny", isObject), allowIp);
    }

    /// <summary>
    /// Whether <paramref name="serverName"/> may take part, by the spec's order: an IP literal when
    /// <c>allow_ip_literals</c> is false is denied; then a <c>deny</c> match denies; then an <c>allow</c> match allows;
    /// anything else is denied. The port is never considered.
    /// </summary>
    public bool Allows(string serverName)
    {
        var host = HostOf(serverName);
        if (!_allowIpLiterals && IsIpLiteral(host))
        {
            return false;
        }

        if (_deny.Any(g => g.IsMatch(host)))
        {
            return false;
        }

        return _allow.Any(g => g.IsMatch(host));
    }

    /// <summary>The host part of a server name: the port goes, an IPv6 literal keeps its brackets.</summary>
    private static string HostOf(string serverName)
    {
        if (serverName.StartsWith('['))
        {
            var close = serverName.IndexOf(']');
            return close < 0 ? serverName : serverName[..(close + 1)];
        }

        var colon = serverName.LastIndexOf(':');
        return colon < 0 ? serverName : serverName[..colon];
    }

    private static bool IsIpLiteral(string host) =>
        host.StartsWith('[') ? host.EndsWith(']') && IPAddress.TryParse(host[1..^1], out _) : IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && host.Count(c => c == '.') == 3;

    private static List<Glob> Globs(JsonElement content, string name, bool isObject)
    {
        var globs = new List<Glob>();
        if (isObject && content.TryGetProperty(name, out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var entry in list.EnumerateArray())
            {
                if (entry.ValueKind == JsonValueKind.String)
                {
                    globs.Add(Glob.Get(entry.GetString()!, GlobMode.Whole));
                }
            }
        }

        return globs;
    }
}
