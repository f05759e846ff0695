using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Rooms.Auth;

/// <summary>
/// Reads one power level value the way the room version allows.
/// v1-v9: integers, strings that are integers ("m.room.power_levels events accept values as strings") and, for the
/// versions without strict canonical JSON, floats truncated toward zero ("accept values as floats").
/// v10+: integers only (rule 10.1-10.3), within the canonical JSON range.
/// </summary>
internal static class PowerLevelValue
{
    /// <summary>Canonical JSON integer range, <c>[-(2**53)+1, (2**53)-1]</c>.</summary>
    public const long MaxCanonical = (1L << 53) - 1;

    public static bool TryRead(JsonElement value, RoomVersion version, out long level)
    {
        level = 0;
        switch (value.ValueKind)
        {
            case JsonValueKind.Number:
                if (value.TryGetInt64(out level))
                {
                    return !version.IntegerPowerLevels || (level is >= -MaxCanonical and <= MaxCanonical);
                }

                if (version.IntegerPowerLevels || version.StrictCanonicalJson)
                {
                    return false;
                }

                // v1-v5 "floaty" power levels: exponent applied, then truncated at the decimal point.
                if (value.TryGetDouble(out var d) && double.IsFinite(d) && d is > -9.2e18 and < 9.2e18)
                {
                    level = (long)Math.Truncate(d);
                    return true;
                }

                return false;
            case JsonValueKind.String:
                return !version.IntegerPowerLevels && TryParseStringy(value.GetString()!, out level);
            default:
                return false;
        }
    }

    /// <summary>
    /// "Stringy" power levels (v1-v9): optional surrounding whitespace, one optional sign, then base-10 digits
    /// (leading zeroes allowed, no decimal point).
    /// </summary>
    internal static bool TryParseStringy(string s, out long level)
    {
        level = 0;
        var span = s.AsSpan().Trim();
        if (span.IsEmpty)
        {
            return false;
        }

        var negative = false;
        if (span[0] is '+' or '-')
        {
            negative = span[0] == '-';
            span = span[1..];
        }

        if (span.IsEmpty)
        {
            return false;
        }

        long acc = 0;
        foreach (var c in span)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            if (acc > (long.MaxValue - (c - '0')) / 10)
            {
                return false;
            }

            acc = (acc * 10) + (c - '0');
        }

        level = negative ? -acc : acc;
        return true;
    }
}
