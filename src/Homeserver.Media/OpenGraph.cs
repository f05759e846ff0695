using System.Net;
using System.Text.RegularExpressions;

namespace Homeserver.Media;

/// <summary>
/// Reads the Open Graph properties of an HTML page for URL previews: <c>og:*</c> meta tags, with the page's
/// <c>&lt;title&gt;</c> and <c>description</c> meta as fallbacks, relative image URLs made absolute. A scanner of
/// meta/title tags rather than an HTML parser: pages are untrusted, so every expression is non-backtracking and the
/// values are bounded.
/// </summary>
public static partial class OpenGraph
{
    public const int MaxDescriptionLength = 500;
    private const int MaxValueLength = 2000;
    private const int MaxProperties = 50;

    /// <summary>The page's preview properties (values are strings; og:image is an absolute http(s) URL if present).</summary>
    public static Dictionary<string, string> Parse(string html, Uri pageUrl)
    {
        var og = new Dictionary<string, string>(StringComparer.Ordinal);
        string? description = null;
        foreach (Match tag in MetaTag().Matches(html))
        {
            var attributes = Attributes(tag.Value);
            var key = attributes.GetValueOrDefault("property") ?? attributes.GetValueOrDefault("name");
            if (key is null || !attributes.TryGetValue("content", out var content))
            {
                continue;
            }

            if (key.StartsWith("og:", StringComparison.OrdinalIgnoreCase) && og.Count < MaxProperties)
            {
                og.TryAdd(key.ToLowerInvariant(), Clip(content, MaxValueLength));
            }
            else if (key.Equals("description", StringComparison.OrdinalIgnoreCase))
            {
                description ??= content;
            }
        }

        if (!og.ContainsKey("og:title") && TitleTag().Match(html) is { Success: true } title)
        {
            var text = WebUtility.HtmlDecode(title.Groups[1].Value).Trim();
            if (text.Length > 0)
            {
                og["og:title"] = Clip(Collapse(text), MaxValueLength);
            }
        }

        if (!og.ContainsKey("og:description") && description is not null)
        {
            og["og:description"] = description;
        }

        if (og.TryGetValue("og:description", out var d))
        {
            og["og:description"] = Clip(Collapse(d), MaxDescriptionLength);
        }

        if (og.TryGetValue("og:image", out var image))
        {
            if (Uri.TryCreate(pageUrl, image, out var absolute) && absolute.Scheme is "http" or "https")
            {
                og["og:image"] = absolute.AbsoluteUri;
            }
            else
            {
                og.Remove("og:image");
            }
        }

        return og;
    }

    private static Dictionary<string, string> Attributes(string tag)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (Match a in Attribute().Matches(tag))
        {
            var value = a.Groups[2].Success ? a.Groups[2].Value : a.Groups[3].Success ? a.Groups[3].Value : a.Groups[4].Value;
            result.TryAdd(a.Groups[1].Value, WebUtility.HtmlDecode(value));
        }

        return result;
    }

    private static string Collapse(string s) => Whitespace().Replace(s, " ").Trim();

    private static string Clip(string s, int max) => s.Length <= max ? s : s[..max];

    [GeneratedRegex(@"<meta\s[^>]*>", RegexOptions.IgnoreCase | RegexOptions.NonBacktracking)]
    private static partial Regex MetaTag();

    [GeneratedRegex(@"<title[^>]*>([^<]*)</title", RegexOptions.IgnoreCase | RegexOptions.NonBacktracking)]
    private static partial Regex TitleTag();

    [GeneratedRegex("""([a-zA-Z_:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", RegexOptions.NonBacktracking)]
    private static partial Regex Attribute();

    [GeneratedRegex(@"\s+", RegexOptions.NonBacktracking)]
    private static partial Regex Whitespace();
}
