using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Homeserver.Crypto;

/// <summary>
/// Writes canonical JSON (https://spec.matrix.org/v1.19/appendices/#canonical-json) from <see cref="JsonElement"/>s
/// into a pooled buffer, working on the document's raw UTF-8 bytes: strings without escapes are copied as they are,
/// keys are compared as UTF-8 bytes (whose order is exactly Unicode code point order, unlike UTF-16 ordinal order
/// once surrogate pairs are involved), and nothing goes through <see cref="string"/> on the way.
/// </summary>
/// <remarks>
/// Composable: callers that rewrite objects on the fly (redaction, signing) use <see cref="CollectProperties"/>
/// with <see cref="WriteStartObject"/>/<see cref="WritePropertyName"/>/<see cref="WriteValue"/>. Keys of the
/// objects being written live in one LIFO arena, released by disposing the <see cref="PropertyList"/>.
/// Never hold a key span across a nested write: the arena may move.
/// </remarks>
internal sealed class CanonicalJsonWriter : IDisposable
{
    private static readonly SearchValues<byte> NeedsEscape = SearchValues.Create(
        "\0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\"\\"u8);

    private readonly PooledBufferWriter _output;
    private byte[] _keys;
    private int _keysTop;
    private Entry[] _entries;
    private int _entriesTop;
    private bool _needComma;

    public CanonicalJsonWriter(CanonicalJsonMode mode, int initialCapacity = 1024)
    {
        Mode = mode;
        _output = new PooledBufferWriter(initialCapacity);
        _keys = ArrayPool<byte>.Shared.Rent(512);
        _entries = ArrayPool<Entry>.Shared.Rent(32);
    }

    public CanonicalJsonMode Mode { get; }

    public ReadOnlySpan<byte> WrittenSpan => _output.WrittenSpan;

    public byte[] ToArray() => _output.ToArray();

    public void Reset()
    {
        _output.Clear();
        _needComma = false;
    }

    public void Dispose()
    {
        _output.Dispose();
        if (_keys.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_keys);
            ArrayPool<Entry>.Shared.Return(_entries, clearArray: true);
            _keys = [];
            _entries = [];
        }
    }

    /// <summary>Any JSON value, recursively, in canonical form.</summary>
    public void WriteValue(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                WriteObject(value, KeyFilter.All);
                break;
            case JsonValueKind.Array:
                WriteArray(value);
                break;
            case JsonValueKind.String:
                BeforeValue();
                WriteRawString(JsonMarshal.GetRawUtf8Value(value));
                break;
            case JsonValueKind.Number:
                BeforeValue();
                CanonicalJsonNumbers.Write(JsonMarshal.GetRawUtf8Value(value), Mode, _output);
                break;
            case JsonValueKind.True:
                WriteRawValue("true"u8);
                break;
            case JsonValueKind.False:
                WriteRawValue("false"u8);
                break;
            case JsonValueKind.Null:
                WriteRawValue("null"u8);
                break;
            default:
                throw new ArgumentException("The element holds no JSON value.", nameof(value));
        }
    }

    /// <summary>
    /// An object with its keys sorted, keeping only the keys <paramref name="filter"/> includes, and optionally with
    /// one key replaced or inserted: <paramref name="overrideKey"/> gets <paramref name="overrideValue"/>, which must
    /// already be canonical JSON. This is how signatures and hashes are added without copying the object.
    /// </summary>
    public void WriteObject(
        JsonElement obj,
        in KeyFilter filter,
        ReadOnlySpan<byte> overrideKey = default,
        ReadOnlySpan<byte> overrideValue = default,
        bool hasOverride = false)
    {
        using var properties = CollectProperties(obj);
        WriteStartObject();
        var pending = hasOverride;
        for (var i = 0; i < properties.Count; i++)
        {
            var key = properties.Key(i);
            if (pending)
            {
                var order = key.SequenceCompareTo(overrideKey);
                if (order >= 0)
                {
                    WritePropertyName(overrideKey);
                    WriteRawValue(overrideValue);
                    pending = false;
                    if (order == 0)
                    {
                        continue;
                    }
                }
            }

            if (!filter.Includes(key))
            {
                continue;
            }

            WritePropertyName(key);
            WriteNested(properties, i);
        }

        if (pending)
        {
            WritePropertyName(overrideKey);
            WriteRawValue(overrideValue);
        }

        WriteEndObject();
    }

    /// <summary>Writes property <paramref name="index"/>'s value, adding the key to the path of any error.</summary>
    public void WriteNested(in PropertyList properties, int index)
    {
        try
        {
            WriteValue(properties.Value(index));
        }
        catch (CanonicalJsonException e)
        {
            throw e.Within(Encoding.UTF8.GetString(properties.Key(index)));
        }
    }

    public void WriteArray(JsonElement array)
    {
        WriteStartArray();
        var index = 0;
        foreach (var item in array.EnumerateArray())
        {
            try
            {
                WriteValue(item);
            }
            catch (CanonicalJsonException e)
            {
                throw e.Within($"[{index}]");
            }

            index++;
        }

        WriteEndArray();
    }

    public void WriteStartObject()
    {
        BeforeValue();
        _output.Write((byte)'{');
        _needComma = false;
    }

    public void WriteEndObject()
    {
        _output.Write((byte)'}');
        _needComma = true;
    }

    public void WriteStartArray()
    {
        BeforeValue();
        _output.Write((byte)'[');
        _needComma = false;
    }

    public void WriteEndArray()
    {
        _output.Write((byte)']');
        _needComma = true;
    }

    /// <summary>A key given as unescaped UTF-8; the caller writes keys in sorted order.</summary>
    public void WritePropertyName(ReadOnlySpan<byte> utf8)
    {
        BeforeValue();
        WriteEscapedString(utf8);
        _output.Write((byte)':');
        _needComma = false;
    }

    /// <summary>A string value given as unescaped UTF-8.</summary>
    public void WriteStringValue(ReadOnlySpan<byte> utf8)
    {
        BeforeValue();
        WriteEscapedString(utf8);
    }

    /// <summary>A string value given as a .NET string (for values we create: signatures, hashes).</summary>
    public void WriteStringValue(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        WriteStringValue(bytes);
    }

    /// <summary>A value that is already canonical JSON.</summary>
    public void WriteRawValue(ReadOnlySpan<byte> canonical)
    {
        BeforeValue();
        _output.Write(canonical);
    }

    /// <summary>
    /// The properties of <paramref name="obj"/> sorted by key (UTF-8 byte order = code point order), keys unescaped.
    /// Throws <see cref="CanonicalJsonException"/> on duplicate keys: canonical JSON has one encoding per value, and a
    /// value with two "type" keys is read differently by different parsers.
    /// </summary>
    public PropertyList CollectProperties(JsonElement obj)
    {
        if (obj.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("Expected a JSON object.", nameof(obj));
        }

        var keysStart = _keysTop;
        var entriesStart = _entriesTop;
        try
        {
            return CollectPropertiesCore(obj, keysStart, entriesStart);
        }
        catch
        {
            _keysTop = keysStart;
            _entriesTop = entriesStart;
            throw;
        }
    }

    private PropertyList CollectPropertiesCore(JsonElement obj, int keysStart, int entriesStart)
    {
        foreach (var property in obj.EnumerateObject())
        {
            var raw = JsonMarshal.GetRawUtf8PropertyName(property);
            var keyStart = _keysTop;
            if (raw.IndexOf((byte)'\\') < 0)
            {
                if (!Utf8.IsValid(raw))
                {
                    throw new CanonicalJsonException("A key is not valid UTF-8.");
                }

                EnsureKeys(raw.Length);
                raw.CopyTo(_keys.AsSpan(_keysTop));
                _keysTop += raw.Length;
            }
            else
            {
                Unescape(raw);
            }

            if (_entriesTop == _entries.Length)
            {
                var bigger = ArrayPool<Entry>.Shared.Rent(_entries.Length * 2);
                _entries.AsSpan(0, _entriesTop).CopyTo(bigger);
                ArrayPool<Entry>.Shared.Return(_entries, clearArray: true);
                _entries = bigger;
            }

            _entries[_entriesTop++] = new Entry(keyStart, _keysTop - keyStart, property.Value);
        }

        var count = _entriesTop - entriesStart;
        var span = _entries.AsSpan(entriesStart, count);
        span.Sort(new EntryComparer(_keys));
        for (var i = 1; i < span.Length; i++)
        {
            if (KeyOf(span[i - 1]).SequenceEqual(KeyOf(span[i])))
            {
                throw new CanonicalJsonException($"The key \"{Encoding.UTF8.GetString(KeyOf(span[i]))}\" appears more than once.");
            }
        }

        return new PropertyList(this, keysStart, entriesStart, count);
    }

    private ReadOnlySpan<byte> KeyOf(in Entry entry) => _keys.AsSpan(entry.KeyStart, entry.KeyLength);

    private void BeforeValue()
    {
        if (_needComma)
        {
            _output.Write((byte)',');
        }

        _needComma = true;
    }

    /// <summary>
    /// A string token straight from the document. With no backslash the content is already canonical (a valid JSON
    /// string has no raw control characters, quotes or backslashes), so only its UTF-8 needs checking.
    /// </summary>
    private void WriteRawString(ReadOnlySpan<byte> token)
    {
        var content = token[1..^1];
        if (!Utf8.IsValid(content))
        {
            throw new CanonicalJsonException("A string is not valid UTF-8.");
        }

        if (content.IndexOf((byte)'\\') < 0)
        {
            _output.Write(token);
            return;
        }

        var mark = _keysTop;
        try
        {
            Unescape(content);
            WriteEscapedString(_keys.AsSpan(mark, _keysTop - mark));
        }
        finally
        {
            _keysTop = mark;
        }
    }

    /// <summary>
    /// Escapes exactly what the spec's grammar requires: <c>"</c>, <c>\</c>, the five short control escapes, and
    /// <c>\u00XX</c> (lowercase hex) for other control characters. Everything else, including DEL, U+2028 and
    /// astral characters, is written as raw UTF-8.
    /// </summary>
    private void WriteEscapedString(ReadOnlySpan<byte> utf8)
    {
        _output.Write((byte)'"');
        while (true)
        {
            var next = utf8.IndexOfAny(NeedsEscape);
            if (next < 0)
            {
                _output.Write(utf8);
                break;
            }

            _output.Write(utf8[..next]);
            var c = utf8[next];
            switch (c)
            {
                case (byte)'"': _output.Write("\\\""u8); break;
                case (byte)'\\': _output.Write("\\\\"u8); break;
                case (byte)'\b': _output.Write("\\b"u8); break;
                case (byte)'\f': _output.Write("\\f"u8); break;
                case (byte)'\n': _output.Write("\\n"u8); break;
                case (byte)'\r': _output.Write("\\r"u8); break;
                case (byte)'\t': _output.Write("\\t"u8); break;
                default:
                    Span<byte> escape = [(byte)'\\', (byte)'u', (byte)'0', (byte)'0', Hex(c >> 4), Hex(c & 0xF)];
                    _output.Write(escape);
                    break;
            }

            utf8 = utf8[(next + 1)..];
        }

        _output.Write((byte)'"');
    }

    private static byte Hex(int nibble) => (byte)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);

    /// <summary>Decodes the escapes of a (syntactically valid) JSON string body onto the top of the key arena.</summary>
    private void Unescape(ReadOnlySpan<byte> escaped)
    {
        // Unescaping never makes the text longer.
        EnsureKeys(escaped.Length);
        var output = _keys.AsSpan(_keysTop);
        var o = 0;
        var i = 0;
        while (i < escaped.Length)
        {
            var b = escaped[i];
            if (b != (byte)'\\')
            {
                output[o++] = b;
                i++;
                continue;
            }

            var kind = escaped[i + 1];
            i += 2;
            switch (kind)
            {
                case (byte)'"': output[o++] = (byte)'"'; break;
                case (byte)'\\': output[o++] = (byte)'\\'; break;
                case (byte)'/': output[o++] = (byte)'/'; break;
                case (byte)'b': output[o++] = (byte)'\b'; break;
                case (byte)'f': output[o++] = (byte)'\f'; break;
                case (byte)'n': output[o++] = (byte)'\n'; break;
                case (byte)'r': output[o++] = (byte)'\r'; break;
                case (byte)'t': output[o++] = (byte)'\t'; break;
                case (byte)'u':
                    var unit = ParseHex4(escaped.Slice(i, 4));
                    i += 4;
                    int codePoint = unit;
                    if (char.IsHighSurrogate((char)unit))
                    {
                        if (i + 6 > escaped.Length || escaped[i] != (byte)'\\' || escaped[i + 1] != (byte)'u'
                            || !char.IsLowSurrogate((char)ParseHex4(escaped.Slice(i + 2, 4))))
                        {
                            throw new CanonicalJsonException("A string contains an unpaired surrogate escape, which has no UTF-8 encoding.");
                        }

                        codePoint = char.ConvertToUtf32((char)unit, (char)ParseHex4(escaped.Slice(i + 2, 4)));
                        i += 6;
                    }
                    else if (char.IsLowSurrogate((char)unit))
                    {
                        throw new CanonicalJsonException("A string contains an unpaired surrogate escape, which has no UTF-8 encoding.");
                    }

                    new Rune(codePoint).TryEncodeToUtf8(output[o..], out var n);
                    o += n;
                    break;
                default:
                    throw new CanonicalJsonException("A string contains an invalid escape sequence.");
            }
        }

        _keysTop += o;
    }

    private static int ParseHex4(ReadOnlySpan<byte> hex)
    {
        var value = 0;
        foreach (var h in hex)
        {
            var digit = h switch
            {
                >= (byte)'0' and <= (byte)'9' => h - '0',
                >= (byte)'a' and <= (byte)'f' => h - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => h - 'A' + 10,
                _ => throw new CanonicalJsonException("A string contains an invalid \\u escape."),
            };
            value = (value << 4) | digit;
        }

        return value;
    }

    private void EnsureKeys(int extra)
    {
        if (_keys.Length - _keysTop >= extra)
        {
            return;
        }

        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_keys.Length * 2, _keysTop + extra));
        _keys.AsSpan(0, _keysTop).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_keys);
        _keys = bigger;
    }

    internal readonly record struct Entry(int KeyStart, int KeyLength, JsonElement Value);

    private readonly struct EntryComparer(byte[] keys) : IComparer<Entry>
    {
        public int Compare(Entry x, Entry y) =>
            keys.AsSpan(x.KeyStart, x.KeyLength).SequenceCompareTo(keys.AsSpan(y.KeyStart, y.KeyLength));
    }

    /// <summary>A sorted view of one object's properties; disposing it releases its keys from the arena.</summary>
    internal readonly struct PropertyList(CanonicalJsonWriter writer, int keysStart, int entriesStart, int count) : IDisposable
    {
        public int Count => count;

        /// <summary>The unescaped UTF-8 key. Valid until the next nested write.</summary>
        public ReadOnlySpan<byte> Key(int index) => writer.KeyOf(writer._entries[entriesStart + index]);

        public JsonElement Value(int index) => writer._entries[entriesStart + index].Value;

        /// <summary>The index of <paramref name="key"/>, or -1.</summary>
        public int IndexOf(ReadOnlySpan<byte> key)
        {
            for (var i = 0; i < count; i++)
            {
                if (Key(i).SequenceEqual(key))
                {
                    return i;
                }
            }

            return -1;
        }

        public void Dispose()
        {
            writer._keysTop = keysStart;
            writer._entriesTop = entriesStart;
        }
    }
}

/// <summary>Which keys of an object to keep: all, all but a set, or only a set (keys as UTF-8).</summary>
internal readonly struct KeyFilter
{
    private readonly byte[][]? _keys;
    private readonly bool _only;

    private KeyFilter(byte[][] keys, bool only)
    {
        _keys = keys;
        _only = only;
    }

    public static KeyFilter All => default;

    public static KeyFilter Except(params string[] keys) => new(ToUtf8(keys), only: false);

    public static KeyFilter Only(params string[] keys) => new(ToUtf8(keys), only: true);

    public bool Includes(ReadOnlySpan<byte> key)
    {
        if (_keys is null)
        {
            return true;
        }

        foreach (var k in _keys)
        {
            if (key.SequenceEqual(k))
            {
                return _only;
            }
        }

        return !_only;
    }

    private static byte[][] ToUtf8(string[] keys) => Array.ConvertAll(keys, Encoding.UTF8.GetBytes);
}
