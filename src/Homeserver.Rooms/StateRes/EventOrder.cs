namespace Homeserver.Rooms.StateRes;

/// <summary>
/// The tie-break on event IDs ("x's event_id is less than y's event_id"). The spec does not name the ordering; we
/// compare Unicode code points, as Synapse (Python string comparison) does. Ordinal UTF-16 comparison differs only
/// when a supplementary character meets one in U+E000-U+FFFF, which only server-chosen v1/v2 IDs can contain.
/// </summary>
internal static class EventOrder
{
    public static int CompareIds(string x, string y)
    {
        var n = Math.Min(x.Length, y.Length);
        for (var i = 0; i < n; i++)
        {
            var a = x[i];
            var b = y[i];
            if (a == b)
            {
                continue;
            }

            var aSurrogate = char.IsSurrogate(a);
            var bSurrogate = char.IsSurrogate(b);
            if (aSurrogate != bSurrogate)
            {
                // A surrogate encodes a code point above U+FFFF, greater than any BMP code point.
                return aSurrogate ? 1 : -1;
            }

            return a < b ? -1 : 1;
        }

        return x.Length.CompareTo(y.Length);
    }
}
