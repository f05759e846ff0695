using System.Text;

namespace Homeserver.Media;

/// <summary>
/// How downloads are labelled for browsers ("Serving inline content"): <c>inline</c> only for the spec's list of types
/// that cannot run script, <c>attachment</c> for everything else (HTML, SVG, JavaScript... are never shown inline), and
/// file names as RFC 6266 allows: a bare token when the name is plain ASCII, else <c>filename*=utf-8''</c> with
/// RFC 5987 percent-encoding.
/// </summary>
public static class ContentDisposition
{
    /// <summary>The types the spec lists as safe to serve inline (SVG intentionally absent).</summary>
    public static readonly IReadOnlySet<string> InlineTypes = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "text/css", "text/plain", "text/csv", "application/json", "application/ld+json", "image/jpeg", "image/gif", "image/png",
        "image/apng", "image/webp", "image/avif", "video/mp4", "video/webm", "video/ogg", "video/quicktime", "audio/mp4", "audio/webm",
        "audio/aac", "audio/mpeg", "audio/ogg", "audio/wave", "audio/wav", "audio/x-wav", "audio/x-pn-wav", "audio/flac", "audio/x-flac",
    };

    /// <summary>Text types that get <c>charset=UTF-8</c> when the uploader gave none (as Synapse does).</summary>
    private static readonly IReadOnlySet<string> TextTypes = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "text/css", "text/csv", "text/html", "text/calendar", "text/plain", "text/javascript", "application/json", "application/ld+json",
        "application/rtf", "image/svg+xml", "text/xml",
    };

    /// <summary>The type without parameters, lowercased.</summary>
    public static string Essence(string contentType) => contentType.Split(';', 2)[0].Trim().ToLowerInvariant();

    public static bool IsInline(string contentType) => InlineTypes.Contains(Essence(contentType));

    /// <summary>The Content-Type to send: the stored type (or application/octet-stream), with a UTF-8 charset for bare text types.</summary>
    public static string ResponseContentType(string? stored)
    {
        if (string.IsNullOrWhiteSpace(stored) || !IsPlausibleMediaType(stored))
        {
            return "application/octet-stream";
        }

        return TextTypes.Contains(stored.Trim()) ? stored.Trim() + "; charset=UTF-8" : stored.Trim();
    }

    /// <summary>The Content-Disposition header value for a download of this type and (optional) file name.</summary>
    public static string Header(string? contentType, string? fileName, bool forceInline = false)
    {
        var disposition = forceInline || (contentType is not null && IsInline(contentType)) ? "inline" : "attachment";
        if (string.IsNullOrEmpty(fileName))
        {
            return disposition;
        }

        return IsToken(fileName) ? $"{disposition}; filename={fileName}" : $"{disposition}; filename*=utf-8''{Rfc5987Encode(fileName)}";
    }

    /// <summary>A type/subtype made of token characters (anything else is not echoed back to browsers).</summary>
    public static bool IsPlausibleMediaType(string value)
    {
        var essence = value.Split(';', 2)[0].Trim();
        var slash = essence.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && slash < essence.Length - 1 && essence.Count(c => c == '/') == 1 && value.Length <= 255
            && essence.All(c => c > 32 && c < 127 && !"()<>@,;:\\\"[]?={}".Contains(c, StringComparison.Ordinal) || c == '/')
            && value.All(c => c >= 32 && c < 127);
    }

    private static bool IsToken(string s)
    {
        foreach (var c in s)
        {
            if (c <= 32 || c >= 127 || "()<>@,;:\\\"/[]?={}".Contains(c, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>RFC 5987 <c>value-chars</c>: attr-chars as they are, every other UTF-8 byte as %XX (upper case).</summary>
    public static string Rfc5987Encode(string value)
    {
        var sb = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || "!#$&+-.^_`|~".Contains(c, StringComparison.Ordinal))
            {
                sb.Append(c);
            }
            else
            {
                sb.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return sb.ToString();
    }
}
