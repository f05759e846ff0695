using System.Globalization;
using System.Text;

namespace Homeserver.Crypto;

/// <summary>
/// Re-serialises one JSON number literal (as validated by System.Text.Json) in canonical form, per
/// <see cref="CanonicalJsonMode"/>. Spec: https://spec.matrix.org/v1.19/appendices/#canonical-json
/// ("integers in the range [-(2**53)+1, (2**53)-1], represented without exponents or decimal places,
/// and negative zero -0 MUST NOT appear").
/// </summary>
internal static class CanonicalJsonNumbers
{
    /// <summary>2^53 - 1, the largest integer a double holds exactly.</summary>
    public const long MaxSafeInteger = 9007199254740991;

    public static void Write(ReadOnlySpan<byte> literal, CanonicalJsonMode mode, PooledBufferWriter output)
    {
        var isIntegerLiteral = literal.IndexOfAny("."u8 + "eE"u8) < 0;
        switch (mode)
        {
            case CanonicalJsonMode.Strict:
                if (!isIntegerLiteral)
                {
                    throw new CanonicalJsonException(
                        $"The number {Show(literal)} is not an integer literal; canonical JSON allows integers only, without fractions or exponents.");
                }

                WriteSafeInteger(literal, output);
                return;

            case CanonicalJsonMode.IntegralValues:
                if (isIntegerLiteral)
                {
                    WriteSafeInteger(literal, output);
                }
                else
                {
                    WriteIntegralValue(literal, output);
                }

                return;

            case CanonicalJsonMode.Legacy:
                if (isIntegerLiteral)
                {
                    // Python's int keeps any size exactly; only "-0" changes (int("-0") prints as "0").
                    output.Write(IsNegativeZeroInteger(literal) ? "0"u8 : literal);
                }
                else
                {
                    WritePythonFloat(literal, output);
                }

                return;

            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown canonical JSON mode.");
        }
    }

    private static void WriteSafeInteger(ReadOnlySpan<byte> literal, PooledBufferWriter output)
    {
        var digits = literal[0] == (byte)'-' ? literal[1..] : literal;

        // JSON's grammar already forbids leading zeros, so 16 digits is the most an in-range value can have.
        if (digits.Length > 16 || ParseDigits(digits) > MaxSafeInteger)
        {
            throw new CanonicalJsonException(
                $"The integer {Show(literal)} is outside the canonical JSON range [-(2^53)+1, (2^53)-1].");
        }

        output.Write(IsNegativeZeroInteger(literal) ? "0"u8 : literal);
    }

    /// <summary>
    /// Exact decimal arithmetic on the literal (never through a double): 1.50e1 is 15, 1.5 and 1e-1 are not integers,
    /// 1e16 is out of range. Exponents are clamped so that absurd ones cannot overflow.
    /// </summary>
    private static void WriteIntegralValue(ReadOnlySpan<byte> literal, PooledBufferWriter output)
    {
        var negative = literal[0] == (byte)'-';
        var rest = negative ? literal[1..] : literal;
        var ePos = rest.IndexOfAny("eE"u8);
        var mantissa = ePos < 0 ? rest : rest[..ePos];
        var exponent = ePos < 0 ? 0L : ParseExponent(rest[(ePos + 1)..]);
        var dot = mantissa.IndexOf((byte)'.');
        var intPart = dot < 0 ? mantissa : mantissa[..dot];
        var fracPart = dot < 0 ? [] : mantissa[(dot + 1)..];

        // value = digits × 10^scale, with digits = intPart ++ fracPart.
        var all = Concat(intPart, fracPart);
        var scale = exponent - fracPart.Length;
        var start = 0;
        while (start < all.Length && all[start] == (byte)'0')
        {
            start++;
        }

        var end = all.Length;
        while (end > start && all[end - 1] == (byte)'0')
        {
            end--;
            scale++;
        }

        var significant = all.AsSpan(start, end - start);
        if (significant.IsEmpty)
        {
            output.Write("0"u8);
            return;
        }

        if (scale < 0)
        {
            throw new CanonicalJsonException($"The number {Show(literal)} is not an integer; canonical JSON allows integers only.");
        }

        if (significant.Length + scale > 16)
        {
            throw new CanonicalJsonException(
                $"The number {Show(literal)} is outside the canonical JSON range [-(2^53)+1, (2^53)-1].");
        }

        var value = ParseDigits(significant);
        for (var i = 0; i < scale; i++)
        {
            value *= 10;
        }

        if (value > MaxSafeInteger)
        {
            throw new CanonicalJsonException(
                $"The number {Show(literal)} is outside the canonical JSON range [-(2^53)+1, (2^53)-1].");
        }

        Span<byte> text = stackalloc byte[20];
        var written = 0;
        if (negative)
        {
            text[written++] = (byte)'-';
        }

        value.TryFormat(text[written..], out var n, default, CultureInfo.InvariantCulture);
        output.Write(text[..(written + n)]);
    }

    /// <summary>
    /// Python's <c>float.__repr__</c> (the shortest string that round-trips, David Gay's algorithm), which is what
    /// Python's json module, and so Synapse's canonicaljson, writes for every non-integer literal.
    /// CPython (Python/pystrtod.c, format_float_short, mode 'r') uses exponent notation when the decimal point
    /// position is below -3 or above 16, writes at least two exponent digits with a sign, and appends ".0" to
    /// integral values in fixed notation.
    /// </summary>
    private static void WritePythonFloat(ReadOnlySpan<byte> literal, PooledBufferWriter output)
    {
        var value = double.Parse(literal, NumberStyles.Float, CultureInfo.InvariantCulture);
        if (!double.IsFinite(value))
        {
            throw new CanonicalJsonException($"The number {Show(literal)} does not fit in a double (Python would write Infinity, which JSON cannot carry).");
        }

        output.Write(Encoding.ASCII.GetBytes(FormatPythonFloat(value)));
    }

    /// <summary>Python's <c>repr(value)</c> for a finite double.</summary>
    internal static string FormatPythonFloat(double value)
    {
        // .NET's "R" is also the shortest round-tripping digit string (closest to the exact value on ties);
        // only the layout differs, so take its digits and decimal exponent and lay them out as CPython does.
        var r = value.ToString("R", CultureInfo.InvariantCulture);
        var negative = r[0] == '-';
        var body = negative ? r.AsSpan(1) : r.AsSpan();
        var ePos = body.IndexOf('E');
        var exponent = ePos < 0 ? 0 : int.Parse(body[(ePos + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var mantissa = ePos < 0 ? body : body[..ePos];
        var dot = mantissa.IndexOf('.');
        var intPart = dot < 0 ? mantissa : mantissa[..dot];
        var digits = string.Concat(intPart, dot < 0 ? [] : mantissa[(dot + 1)..]);

        // value = 0.DIGITS × 10^decpt, CPython's convention.
        var decpt = intPart.Length + exponent;
        var trimmed = digits.TrimStart('0');
        decpt -= digits.Length - trimmed.Length;
        trimmed = trimmed.TrimEnd('0');

        var sb = new StringBuilder(32);
        if (negative)
        {
            sb.Append('-');
        }

        if (trimmed.Length == 0)
        {
            return sb.Append("0.0").ToString();
        }

        if (decpt <= -4 || decpt > 16)
        {
            sb.Append(trimmed[0]);
            if (trimmed.Length > 1)
            {
                sb.Append('.').Append(trimmed, 1, trimmed.Length - 1);
            }

            var e = decpt - 1;
            sb.Append('e').Append(e < 0 ? '-' : '+').Append(Math.Abs(e).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (decpt <= 0)
        {
            sb.Append("0.").Append('0', -decpt).Append(trimmed);
        }
        else if (decpt < trimmed.Length)
        {
            sb.Append(trimmed, 0, decpt).Append('.').Append(trimmed, decpt, trimmed.Length - decpt);
        }
        else
        {
            sb.Append(trimmed).Append('0', decpt - trimmed.Length).Append(".0");
        }

        return sb.ToString();
    }

    private static bool IsNegativeZeroInteger(ReadOnlySpan<byte> literal) => literal.SequenceEqual("-0"u8);

    private static long ParseDigits(ReadOnlySpan<byte> digits)
    {
        long value = 0;
        foreach (var d in digits)
        {
            value = value * 10 + (d - '0');
        }

        return value;
    }

    private static long ParseExponent(ReadOnlySpan<byte> text)
    {
        var negative = false;
        if (text[0] is (byte)'+' or (byte)'-')
        {
            negative = text[0] == (byte)'-';
            text = text[1..];
        }

        long value = 0;
        foreach (var d in text)
        {
            // Anything beyond a few hundred cannot change the outcome: either the value is zero, or it is out of
            // range, or it is not an integer.
            value = Math.Min(value * 10 + (d - '0'), 100_000);
        }

        return negative ? -value : value;
    }

    private static byte[] Concat(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        var result = new byte[a.Length + b.Length];
        a.CopyTo(result);
        b.CopyTo(result.AsSpan(a.Length));
        return result;
    }

    private static string Show(ReadOnlySpan<byte> literal) =>
        literal.Length <= 40 ? Encoding.UTF8.GetString(literal) : Encoding.UTF8.GetString(literal[..40]) + "...";
}
