using System.Text.Json;

namespace Homeserver.Rooms.Tests;

/// <summary>The server ACL matcher against the spec's order of checks (m.room.server_acl) and its defaults.</summary>
public sealed class ServerAclTests
{
    public static TheoryData<string, string, bool> Cases => new()
    {
        // Deny wins over allow; the port is never considered.
        { """{"allow":["*"],"deny":["evil.com"]}""", "evil.com", false },
        { """{"allow":["*"],"deny":["evil.com"]}""", "evil.com:8448", false },
        { """{"allow":["*"],"deny":["evil.com"]}""", "good.com:1234", true },
        { """{"allow":["*"],"deny":["evil.com:8448"]}""", "evil.com:8448", true },

        // Globs: '*' any run, '?' one character, case-insensitive both ways.
        { """{"allow":["*.example.org"]}""", "matrix.example.org", true },
        { """{"allow":["*.example.org"]}""", "example.org", false },
        { """{"allow":["h?.example.org"]}""", "hs.example.org", true },
        { """{"allow":["h?.example.org"]}""", "hss.example.org", false },
        { """{"allow":["*"],"deny":["EVIL.com"]}""", "evil.COM", false },

        // No allow list (or not a list) denies everyone; entries that are not strings are skipped.
        { """{"deny":[]}""", "anyone.org", false },
        { """{"allow":"*"}""", "anyone.org", false },
        { """{"allow":[1, "*"]}""", "anyone.org", true },
        { """{"allow":["*"],"deny":[null, "evil.com"]}""", "evil.com", false },

        // IP literals: allowed unless allow_ip_literals is the boolean false.
        { """{"allow":["*"]}""", "1.2.3.4:8448", true },
        { """{"allow":["*"],"allow_ip_literals":false}""", "1.2.3.4:8448", false },
        { """{"allow":["*"],"allow_ip_literals":false}""", "[::1]:8448", false },
        { """{"allow":["*"],"allow_ip_literals":false}""", "[2001:db8::1]", false },
        { """{"allow":["*"],"allow_ip_literals":"false"}""", "1.2.3.4", true },
        { """{"allow":["*"],"allow_ip_literals":false}""", "1234.example.org", true },
        { """{"allow":["1.2.3.*"]}""", "1.2.3.4:8448", true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_acl_allows_exactly_what_the_spec_says(string content, string serverName, bool allowed)
    {
        using var doc = JsonDocument.Parse(content);
        ServerAcl.FromContent(doc.RootElement).Allows(serverName).Should().Be(allowed);
    }

    [Fact]
    public void Content_that_is_not_an_object_denies_everyone()
    {
        using var doc = JsonDocument.Parse("[]");
        ServerAcl.FromContent(doc.RootElement).Allows("example.org").Should().BeFalse();
    }
}
