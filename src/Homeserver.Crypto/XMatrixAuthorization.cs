using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;

namespace Homeserver.Crypto;

/// <summary>
/// The <c>Authorization: X-Matrix ...</c> header of server-server requests: building the signed request object,
/// formatting and parsing the header, and verifying a request.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#request-authentication.
/// </summary>
/// <remarks>
/// The signed object is <c>{"method", "uri", "origin", "destination", "content"?}</c>; <c>uri</c> is the request
/// target from <c>/_matrix/...</c> including the query string. Numbers in <c>content</c> are canonicalised in
/// <see cref="CanonicalJsonMode.Legacy"/> mode by default: a transaction may carry events of room versions 1–5,
/// which may contain floats, and Synapse signs its requests with Python's encoder. On any body that is valid
/// strict canonical JSON, Legacy and Strict give the same bytes.
/// </remarks>
public sealed record XMatrixAuthorization
{
    /// <summary>The auth scheme (case-insensitive when parsing).</summary>
    public const string Scheme = "X-Matrix";

    /// <summary>The sending server's name.</summary>
    public required string Origin { get; init; }

    /// <summary>The receiving server's name; null only in headers from servers older than spec v1.3.</summary>
    public string? Destination { get; init; }

    /// <summary>The signing key ID, for example <c>ed25519:key1</c>.</summary>
    public required string KeyId { get; init; }

    /// <summary>The unpadded Base64 signature.</summary>
    public required string Signature { get; init; }

    /// <summary>Signs a request as <paramref name="origin"/>. <paramref name="content"/> is the parsed JSON body, or null for none.</summary>
    /// <exception cref="ArgumentException">A value contains control characters (which would break the header).</exception>
    public static XMatrixAuthorization Create(
        string method,
        string uri,
        string origin,
        string destination,
        JsonElement? content,
        Ed25519SigningKey key,
        CanonicalJsonMode mode = CanonicalJsonMode.Legacy)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentNullException.ThrowIfNull(key);
        RequireHeaderSafe(origin, nameof(origin));
        RequireHeaderSafe(destination, nameof(destination));
        var signed = BuildSignedBytes(method, uri, origin, destination, content, mode);
        return new XMatrixAuthorization
        {
            Origin = origin,
            Destination = destination,
            KeyId = key.KeyId,
            Signature = key.SignToBase64(signed),
        };
    }

    /// <summary>
    /// The canonical JSON that the signature covers (without <c>signatures</c>, which the signing algorithm removes
    /// anyway): keys in sorted order <c>content</c>, <c>destination</c>, <c>method</c>, <c>origin</c>, <c>uri</c>.
    /// </summary>
    public static byte[] BuildSignedBytes(
        string method,
        string uri,
        string origin,
        string destination,
        JsonElement? content,
        CanonicalJsonMode mode = CanonicalJsonMode.Legacy)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentNullException.ThrowIfNull(origin);
        ArgumentNullException.ThrowIfNull(destination);
        using var writer = new CanonicalJsonWriter(mode);
        writer.WriteStartObject();
        if (content is { } body)
        {
            writer.WritePropertyName("content"u8);
            writer.WriteValue(body);
        }

        writer.WritePropertyName("destination"u8);
        writer.WriteStringValue(destination);
        writer.WritePropertyName("method"u8);
        writer.WriteStringValue(method);
        writer.WritePropertyName("origin"u8);
        writer.WriteStringValue(origin);
        writer.WritePropertyName("uri"u8);
        writer.WriteStringValue(uri);
        writer.WriteEndObject();
        return writer.ToArray();
    }

    /// <summary>
    /// Checks this header against a received request. <paramref name="ourServerName"/> is the receiving server's
    /// name: a header naming another destination fails, and the signed object always carries our name as
    /// <c>destination</c> (so a header without one still verifies only if it was signed for us).
    /// Which key to use (by <see cref="Origin"/> and <see cref="KeyId"/>) is the caller's job.
    /// </summary>
    public SignatureVerification Verify(
        string method,
        string uri,
        string ourServerName,
        JsonElement? content,
        ReadOnlySpan<byte> publicKey,
        CanonicalJsonMode mode = CanonicalJsonMode.Legacy)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentNullException.ThrowIfNull(ourServerName);
        if (Destination is not null && !string.Equals(Destination, ourServerName, StringComparison.Ordinal))
        {
            return SignatureVerification.DestinationMismatch;
        }

        if (!KeyId.StartsWith(Ed25519SigningKey.Algorithm + ":", StringComparison.Ordinal))
        {
            return SignatureVerification.UnsupportedAlgorithm;
        }

        if (!UnpaddedBase64.TryDecode(Signature, out var signature) || signature.Length != Ed25519SigningKey.SignatureLength)
        {
            return SignatureVerification.MalformedSignature;
        }

        if (publicKey.Length != Ed25519.PublicKeyLength)
        {
            return SignatureVerification.InvalidPublicKey;
        }

        byte[] signed;
        try
        {
            signed = BuildSignedBytes(method, uri, Origin, ourServerName, content, mode);
        }
        catch (CanonicalJsonException)
        {
            return SignatureVerification.InvalidJson;
        }

        return Ed25519.Verify(publicKey, signed, signature) ? SignatureVerification.Valid : SignatureVerification.BadSignature;
    }

    /// <summary>
    /// The header value, as the spec recommends senders write it for old receivers: one space after the scheme,
    /// lower-case names, every value quoted, no spaces around commas.
    /// </summary>
    public string ToHeaderValue()
    {
        var sb = new StringBuilder(160);
        sb.Append(Scheme).Append(' ');
        AppendParameter(sb, "origin", Origin);
        if (Destination is not null)
        {
            sb.Append(',');
            AppendParameter(sb, "destination", Destination);
        }

        sb.Append(',');
        AppendParameter(sb, "key", KeyId);
        sb.Append(',');
        AppendParameter(sb, "sig", Signature);
        return sb.ToString();
    }

    /// <summary>The header value (never the signature's validity: use <see cref="Verify"/>).</summary>
    public override string ToString() => ToHeaderValue();

    /// <summary>Parses an <c>Authorization</c> header value.</summary>
    /// <exception cref="FormatException">Not an X-Matrix header, malformed, or missing origin, key or sig.</exception>
    public static XMatrixAuthorization Parse(string header)
    {
        ArgumentNullException.ThrowIfNull(header);
        return TryParse(header, out var result, out var error) ? result : throw new FormatException(error);
    }

    /// <summary>Parses an <c>Authorization</c> header value; false for anything <see cref="Parse"/> would reject.</summary>
    public static bool TryParse([NotNullWhen(true)] string? header, [NotNullWhen(true)] out XMatrixAuthorization? result) =>
        TryParse(header, out result, out _);

    /// <summary>
    /// RFC 9110 section 11.4 credentials (https://datatracker.ietf.org/doc/html/rfc9110#section-11.4) with the
    /// spec's leniencies: scheme and parameter names are case-insensitive; spaces and tabs are allowed around
    /// commas and <c>=</c>; values may be quoted (with backslash escapes) or bare, and bare values may contain
    /// colons (older senders write <c>origin=example.org:8448</c>); unknown parameters are ignored; a repeated
    /// parameter is rejected. <c>signature</c> is accepted in place of <c>sig</c> because the spec's parameter list
    /// names it so, although its example and every implementation use <c>sig</c>.
    /// </summary>
    private static bool TryParse(string? header, [NotNullWhen(true)] out XMatrixAuthorization? result, out string error)
    {
        result = null;
        if (header is null)
        {
            error = "No Authorization header.";
            return false;
        }

        var s = header.AsSpan().Trim(" \t");
        var schemeEnd = s.IndexOfAny(' ', '\t');
        if (schemeEnd < 0 || !s[..schemeEnd].Equals(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            error = "Not an X-Matrix Authorization header.";
            return false;
        }

        string? origin = null, destination = null, key = null, sig = null, signature = null;
        var i = schemeEnd;
        while (true)
        {
            // Skip whitespace and empty list elements ("a=1, ,b=2" is allowed by the #rule).
            while (i < s.Length && (s[i] is ' ' or '\t' or ','))
            {
                i++;
            }

            if (i == s.Length)
            {
                break;
            }

            var nameStart = i;
            while (i < s.Length && IsTokenChar(s[i]))
            {
                i++;
            }

            if (i == nameStart)
            {
                error = $"Unexpected character '{s[i]}' where a parameter name was expected.";
                return false;
            }

            var name = s[nameStart..i].ToString().ToLowerInvariant();
            SkipBlanks(s, ref i);
            if (i == s.Length || s[i] != '=')
            {
                error = $"The parameter \"{name}\" has no value.";
                return false;
            }

            i++;
            SkipBlanks(s, ref i);
            if (!TryReadValue(s, ref i, out var value, out error))
            {
                return false;
            }

            SkipBlanks(s, ref i);
            if (i < s.Length && s[i] != ',')
            {
                error = $"Expected a comma after the value of \"{name}\".";
                return false;
            }

            var duplicate = name switch
            {
                "origin" => !TrySet(ref origin, value),
                "destination" => !TrySet(ref destination, value),
                "key" => !TrySet(ref key, value),
                "sig" => !TrySet(ref sig, value),
                "signature" => !TrySet(ref signature, value),
                _ => false,
            };
            if (duplicate)
            {
                error = $"The parameter \"{name}\" appears more than once.";
                return false;
            }
        }

        sig ??= signature;
        if (string.IsNullOrEmpty(origin) || string.IsNullOrEmpty(key) || string.IsNullOrEmpty(sig))
        {
            error = "The X-Matrix header must have non-empty origin, key and sig parameters.";
            return false;
        }

        if (destination is { Length: 0 })
        {
            error = "The X-Matrix destination parameter is empty.";
            return false;
        }

        result = new XMatrixAuthorization { Origin = origin, Destination = destination, KeyId = key, Signature = sig };
        error = string.Empty;
        return true;
    }

    private static bool TrySet(ref string? slot, string value)
    {
        if (slot is not null)
        {
            return false;
        }

        slot = value;
        return true;
    }

    private static bool TryReadValue(ReadOnlySpan<char> s, ref int i, out string value, out string error)
    {
        value = string.Empty;
        error = string.Empty;
        if (i < s.Length && s[i] == '"')
        {
            var sb = new StringBuilder();
            i++;
            while (true)
            {
                if (i == s.Length)
                {
                    error = "Unterminated quoted value.";
                    return false;
                }

                var c = s[i++];
                if (c == '"')
                {
                    break;
                }

                if (c == '\\')
                {
                    if (i == s.Length)
                    {
                        error = "Unterminated quoted value.";
                        return false;
                    }

                    c = s[i++];
                }

                if (char.IsControl(c) && c != '\t')
                {
                    error = "Control character in a quoted value.";
                    return false;
                }

                sb.Append(c);
            }

            value = sb.ToString();
            return true;
        }

        var start = i;
        // Bare values: RFC 9110 tokens, plus what older senders write unquoted (':' in server names, '/', '+' and
        // '=' in Base64). Quotes and backslashes only make sense inside quoted strings.
        while (i < s.Length && s[i] is not (',' or ' ' or '\t' or '"' or '\\') && !char.IsControl(s[i]))
        {
            i++;
        }

        if (i == start)
        {
            error = "Empty or malformed parameter value.";
            return false;
        }

        value = s[start..i].ToString();
        return true;
    }

    private static void SkipBlanks(ReadOnlySpan<char> s, ref int i)
    {
        while (i < s.Length && s[i] is ' ' or '\t')
        {
            i++;
        }
    }

    /// <summary>RFC 9110 tchar.</summary>
    private static bool IsTokenChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~';

    private static void AppendParameter(StringBuilder sb, string name, string value)
    {
        sb.Append(name).Append("=\"");
        foreach (var c in value)
        {
            if (c is '"' or '\\')
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }

        sb.Append('"');
    }

    private static void RequireHeaderSafe(string value, string name)
    {
        ArgumentNullException.ThrowIfNull(value, name);
        if (value.Length == 0 || value.AsSpan().ContainsAnyInRange('\0', '\u001f') || value.Contains('\u007f', StringComparison.Ordinal))
        {
            throw new ArgumentException("Header values must be non-empty and free of control characters.", name);
        }
    }
}
