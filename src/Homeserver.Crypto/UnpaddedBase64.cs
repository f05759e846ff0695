using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Homeserver.Crypto;

/// <summary>
/// Unpadded Base64, the encoding of every binary value in Matrix JSON (keys, signatures, hashes, event IDs).
/// Spec: https://spec.matrix.org/v1.19/appendices/#unpadded-base64 and
/// https://spec.matrix.org/v1.19/appendices/#url-safe-unpadded-base64.
/// </summary>
/// <remarks>
/// Encoders never pad. Decoders accept input with or without <c>=</c> padding, as the spec asks ("implementations
/// SHOULD accept input with or without padding characters"), but nothing else: no whitespace, no mixed alphabets,
/// no padding in the middle, no impossible lengths. Non-zero trailing bits are tolerated, as Python's and .NET's
/// decoders do, because only the decoded bytes are ever compared.
/// </remarks>
public static class UnpaddedBase64
{
    private const string StandardAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    private const string UrlSafeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    /// <summary>Decoding tables: 128 entries each, -1 for characters outside the alphabet.</summary>
    private static readonly sbyte[] StandardTable = BuildTable(StandardAlphabet);

    private static readonly sbyte[] UrlSafeTable = BuildTable(UrlSafeAlphabet);

    /// <summary>The length of the unpadded encoding of <paramref name="byteCount"/> bytes.</summary>
    public static int GetEncodedLength(int byteCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteCount);
        return checked((byteCount * 4 + 2) / 3);
    }

    /// <summary>Standard alphabet (<c>+</c>, <c>/</c>), no padding.</summary>
    public static string Encode(ReadOnlySpan<byte> data) => EncodeCore(data, StandardAlphabet);

    /// <summary>URL-safe alphabet (<c>-</c>, <c>_</c>), no padding. Used for event IDs from room version 4.</summary>
    public static string EncodeUrlSafe(ReadOnlySpan<byte> data) => EncodeCore(data, UrlSafeAlphabet);

    /// <summary>Writes the standard unpadded encoding as UTF-8 and returns the number of bytes written.</summary>
    public static int EncodeToUtf8(ReadOnlySpan<byte> data, Span<byte> destination) =>
        EncodeInto(data, destination, StandardAlphabet);

    /// <summary>Writes the URL-safe unpadded encoding as UTF-8 and returns the number of bytes written.</summary>
    public static int EncodeUrlSafeToUtf8(ReadOnlySpan<byte> data, Span<byte> destination) =>
        EncodeInto(data, destination, UrlSafeAlphabet);

    /// <summary>Decodes standard Base64, padded or not.</summary>
    /// <exception cref="FormatException">The input is not valid Base64.</exception>
    public static byte[] Decode(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return TryDecode(input.AsSpan(), out var result) ? result : throw Invalid(urlSafe: false);
    }

    /// <summary>Decodes URL-safe Base64, padded or not.</summary>
    /// <exception cref="FormatException">The input is not valid URL-safe Base64.</exception>
    public static byte[] DecodeUrlSafe(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return TryDecodeUrlSafe(input.AsSpan(), out var result) ? result : throw Invalid(urlSafe: true);
    }

    /// <summary>Decodes standard Base64, padded or not; false (and an empty array) on any invalid input, including null.</summary>
    public static bool TryDecode([NotNullWhen(true)] string? input, out byte[] result)
    {
        if (input is null)
        {
            result = [];
            return false;
        }

        return TryDecode(input.AsSpan(), out result);
    }

    /// <inheritdoc cref="TryDecode(string?, out byte[])"/>
    public static bool TryDecode(ReadOnlySpan<char> input, out byte[] result) => TryDecodeToArray(input, StandardTable, out result);

    /// <summary>Decodes URL-safe Base64, padded or not; false (and an empty array) on any invalid input, including null.</summary>
    public static bool TryDecodeUrlSafe([NotNullWhen(true)] string? input, out byte[] result)
    {
        if (input is null)
        {
            result = [];
            return false;
        }

        return TryDecodeUrlSafe(input.AsSpan(), out result);
    }

    /// <inheritdoc cref="TryDecodeUrlSafe(string?, out byte[])"/>
    public static bool TryDecodeUrlSafe(ReadOnlySpan<char> input, out byte[] result) => TryDecodeToArray(input, UrlSafeTable, out result);

    /// <summary>
    /// Decodes standard Base64 given as UTF-8 bytes (for example a raw JSON string value) into
    /// <paramref name="destination"/>, without allocating. False if the input is invalid or the destination too small.
    /// </summary>
    public static bool TryDecodeUtf8(ReadOnlySpan<byte> utf8, Span<byte> destination, out int bytesWritten) =>
        TryDecodeCore(utf8, StandardTable, destination, out bytesWritten);

    /// <summary>
    /// Decodes a JSON string value holding standard Base64 (a signature, a hash) into <paramref name="destination"/>
    /// straight from the document's UTF-8, without allocating. False if the value is not a string, not Base64, or
    /// decodes to more than <paramref name="destination"/> holds.
    /// </summary>
    internal static bool TryDecodeJsonString(JsonElement value, Span<byte> destination, out int bytesWritten)
    {
        bytesWritten = 0;
        if (value.ValueKind != JsonValueKind.String)
        {
            return false;
        }

        // Base64 never needs JSON escapes, so the raw token is the text unless the sender escaped for the sake of it.
        var raw = JsonMarshal.GetRawUtf8Value(value)[1..^1];
        if (raw.IndexOf((byte)'\\') < 0)
        {
            return TryDecodeCore(raw, StandardTable, destination, out bytesWritten);
        }

        string? text;
        try
        {
            text = value.GetString();
        }
        catch (InvalidOperationException)
        {
            return false; // invalid UTF-8 or a lone surrogate: certainly not Base64
        }

        return TryDecodeCore(text.AsSpan(), StandardTable, destination, out bytesWritten);
    }

    /// <summary>The largest number of bytes that <paramref name="encodedLength"/> characters can decode to.</summary>
    public static int GetMaxDecodedLength(int encodedLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(encodedLength);
        return (int)((long)encodedLength * 3 / 4);
    }

    private static string EncodeCore(ReadOnlySpan<byte> data, string alphabet)
    {
        if (data.IsEmpty)
        {
            return string.Empty;
        }

        var length = GetEncodedLength(data.Length);
        if (length <= 512)
        {
            Span<char> chars = stackalloc char[length];
            EncodeInto(data, chars, alphabet);
            return new string(chars);
        }

        var buffer = new char[length];
        EncodeInto(data, buffer, alphabet);
        return new string(buffer);
    }

    private static int EncodeInto<T>(ReadOnlySpan<byte> data, Span<T> destination, string alphabet)
        where T : unmanaged, IBinaryInteger<T>
    {
        var length = GetEncodedLength(data.Length);
        if (destination.Length < length)
        {
            throw new ArgumentException($"The destination needs {length} elements.", nameof(destination));
        }

        var o = 0;
        var i = 0;
        for (; i + 3 <= data.Length; i += 3)
        {
            var v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
            destination[o++] = T.CreateTruncating(alphabet[v >> 18]);
            destination[o++] = T.CreateTruncating(alphabet[(v >> 12) & 63]);
            destination[o++] = T.CreateTruncating(alphabet[(v >> 6) & 63]);
            destination[o++] = T.CreateTruncating(alphabet[v & 63]);
        }

        var rest = data.Length - i;
        if (rest == 1)
        {
            var v = data[i] << 16;
            destination[o++] = T.CreateTruncating(alphabet[v >> 18]);
            destination[o++] = T.CreateTruncating(alphabet[(v >> 12) & 63]);
        }
        else if (rest == 2)
        {
            var v = (data[i] << 16) | (data[i + 1] << 8);
            destination[o++] = T.CreateTruncating(alphabet[v >> 18]);
            destination[o++] = T.CreateTruncating(alphabet[(v >> 12) & 63]);
            destination[o++] = T.CreateTruncating(alphabet[(v >> 6) & 63]);
        }

        return o;
    }

    private static bool TryDecodeToArray(ReadOnlySpan<char> input, sbyte[] table, out byte[] result)
    {
        var max = GetMaxDecodedLength(input.Length);
        var buffer = max == 0 ? [] : new byte[max];
        if (!TryDecodeCore(input, table, buffer, out var written))
        {
            result = [];
            return false;
        }

        result = written == buffer.Length ? buffer : buffer.AsSpan(0, written).ToArray();
        return true;
    }

    private static bool TryDecodeCore<T>(ReadOnlySpan<T> input, sbyte[] table, Span<byte> destination, out int bytesWritten)
        where T : unmanaged, IBinaryInteger<T>
    {
        bytesWritten = 0;

        // Padding is optional, but when present it must be what RFC 4648 would have written:
        // one or two '=' completing the last quantum to four characters.
        var end = input.Length;
        if (end > 0 && input[end - 1] == T.CreateTruncating('='))
        {
            if (end % 4 != 0)
            {
                return false;
            }

            end--;
            if (input[end - 1] == T.CreateTruncating('='))
            {
                end--;
            }
        }

        // A final group of one character carries only 6 bits: never a valid encoding.
        if (end % 4 == 1)
        {
            return false;
        }

        var needed = end / 4 * 3 + (end % 4 == 0 ? 0 : end % 4 - 1);
        if (destination.Length < needed)
        {
            return false;
        }

        var o = 0;
        var i = 0;
        for (; i + 4 <= end; i += 4)
        {
            var a = Value(input[i], table);
            var b = Value(input[i + 1], table);
            var c = Value(input[i + 2], table);
            var d = Value(input[i + 3], table);
            if ((a | b | c | d) < 0)
            {
                return false;
            }

            var v = (a << 18) | (b << 12) | (c << 6) | d;
            destination[o++] = (byte)(v >> 16);
            destination[o++] = (byte)(v >> 8);
            destination[o++] = (byte)v;
        }

        var rest = end - i;
        if (rest >= 2)
        {
            var a = Value(input[i], table);
            var b = Value(input[i + 1], table);
            var c = rest == 3 ? Value(input[i + 2], table) : 0;
            if ((a | b | c) < 0)
            {
                return false;
            }

            var v = (a << 18) | (b << 12) | (c << 6);
            destination[o++] = (byte)(v >> 16);
            if (rest == 3)
            {
                destination[o++] = (byte)(v >> 8);
            }
        }

        bytesWritten = o;
        return true;
    }

    private static int Value<T>(T c, sbyte[] table)
        where T : unmanaged, IBinaryInteger<T>
    {
        var code = uint.CreateTruncating(c);
        return code < 128 ? table[code] : -1;
    }

    private static sbyte[] BuildTable(string alphabet)
    {
        var table = new sbyte[128];
        Array.Fill(table, (sbyte)-1);
        for (var i = 0; i < alphabet.Length; i++)
        {
            table[alphabet[i]] = (sbyte)i;
        }

        return table;
    }

    private static FormatException Invalid(bool urlSafe) =>
        new(urlSafe ? "The input is not valid URL-safe Base64." : "The input is not valid Base64.");
}
