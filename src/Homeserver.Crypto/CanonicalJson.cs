using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;

namespace Homeserver.Crypto;

/// <summary>
/// Canonical JSON: the one byte encoding of a JSON value that Matrix signs and hashes.
/// Spec: https://spec.matrix.org/v1.19/appendices/#canonical-json (UTF-8, no insignificant whitespace, object keys
/// sorted by Unicode code point, only the escapes the grammar requires, integers only in the safe range).
/// </summary>
/// <remarks>
/// Works on <see cref="JsonElement"/> (the parsed bytes we received) and writes UTF-8 bytes. Numbers follow
/// <see cref="CanonicalJsonMode"/>; use <see cref="ModeFor"/> for events. Duplicate keys are rejected in every mode.
/// Every method throws <see cref="CanonicalJsonException"/> for a value that has no canonical encoding.
/// </remarks>
public static class CanonicalJson
{
    /// <summary>The mode for the events of a room version: strict from v6, Python-compatible before.</summary>
    public static CanonicalJsonMode ModeFor(RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        return version.StrictCanonicalJson ? CanonicalJsonMode.Strict : CanonicalJsonMode.Legacy;
    }

    /// <summary>The canonical encoding of <paramref name="value"/>.</summary>
    public static byte[] Encode(JsonElement value, CanonicalJsonMode mode = CanonicalJsonMode.Strict)
    {
        using var writer = new CanonicalJsonWriter(mode);
        writer.WriteValue(value);
        return writer.ToArray();
    }

    /// <summary>
    /// The canonical encoding of the object <paramref name="value"/> without the top-level keys
    /// <paramref name="excludedTopLevelKeys"/> (for example <c>signatures</c> and <c>unsigned</c> when signing),
    /// without copying the object first.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="value"/> is not an object.</exception>
    public static byte[] Encode(JsonElement value, CanonicalJsonMode mode, params ReadOnlySpan<string> excludedTopLevelKeys)
    {
        using var writer = new CanonicalJsonWriter(mode);
        WriteExcluding(writer, value, excludedTopLevelKeys);
        return writer.ToArray();
    }

    /// <summary>The canonical encoding of a <see cref="JsonNode"/> (null is JSON <c>null</c>). A convenience, not a hot path.</summary>
    public static byte[] Encode(JsonNode? value, CanonicalJsonMode mode = CanonicalJsonMode.Strict)
    {
        using var document = ToDocument(value);
        return Encode(document.RootElement, mode);
    }

    /// <summary>Parses <paramref name="utf8Json"/> and returns its canonical encoding.</summary>
    /// <exception cref="JsonException">The input is not JSON.</exception>
    public static byte[] Encode(ReadOnlySpan<byte> utf8Json, CanonicalJsonMode mode = CanonicalJsonMode.Strict)
    {
        var reader = new Utf8JsonReader(utf8Json);
        using var document = JsonDocument.ParseValue(ref reader);
        if (reader.Read())
        {
            throw new JsonException("Trailing data after the JSON value.");
        }

        return Encode(document.RootElement, mode);
    }

    /// <summary>Appends the canonical encoding of <paramref name="value"/> (minus any excluded top-level keys) to <paramref name="destination"/>.</summary>
    public static void Write(
        JsonElement value,
        IBufferWriter<byte> destination,
        CanonicalJsonMode mode = CanonicalJsonMode.Strict,
        params ReadOnlySpan<string> excludedTopLevelKeys)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var writer = new CanonicalJsonWriter(mode);
        WriteExcluding(writer, value, excludedTopLevelKeys);
        destination.Write(writer.WrittenSpan);
    }

    /// <summary>
    /// Writes the canonical encoding of <paramref name="value"/> as the next value of <paramref name="destination"/>
    /// (after a property name, in an array, or at the root), byte for byte, whatever the writer's own options.
    /// </summary>
    public static void Write(
        JsonElement value,
        Utf8JsonWriter destination,
        CanonicalJsonMode mode = CanonicalJsonMode.Strict,
        params ReadOnlySpan<string> excludedTopLevelKeys)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var writer = new CanonicalJsonWriter(mode);
        WriteExcluding(writer, value, excludedTopLevelKeys);
        destination.WriteRawValue(writer.WrittenSpan, skipInputValidation: true);
    }

    /// <summary>Throws <see cref="CanonicalJsonException"/> if <paramref name="value"/> has no canonical encoding in <paramref name="mode"/>.</summary>
    public static void Validate(JsonElement value, CanonicalJsonMode mode = CanonicalJsonMode.Strict)
    {
        using var writer = new CanonicalJsonWriter(mode);
        writer.WriteValue(value);
    }

    /// <summary>True if <paramref name="value"/> has a canonical encoding in <paramref name="mode"/>; otherwise the reason.</summary>
    public static bool IsValid(JsonElement value, CanonicalJsonMode mode, out string? problem)
    {
        try
        {
            Validate(value, mode);
            problem = null;
            return true;
        }
        catch (CanonicalJsonException e)
        {
            problem = e.Message;
            return false;
        }
    }

    /// <summary>SHA-256 of the canonical encoding (minus excluded top-level keys), without materialising the bytes.</summary>
    public static byte[] Sha256(JsonElement value, CanonicalJsonMode mode, params ReadOnlySpan<string> excludedTopLevelKeys)
    {
        using var writer = new CanonicalJsonWriter(mode);
        WriteExcluding(writer, value, excludedTopLevelKeys);
        return SHA256.HashData(writer.WrittenSpan);
    }

    internal static JsonDocument ToDocument(JsonNode? value)
    {
        using var buffer = new PooledBufferWriter();
        using (var json = new Utf8JsonWriter(buffer))
        {
            if (value is null)
            {
                json.WriteNullValue();
            }
            else
            {
                value.WriteTo(json);
            }
        }

        return JsonDocument.Parse(buffer.WrittenMemory.ToArray());
    }

    private static void WriteExcluding(CanonicalJsonWriter writer, JsonElement value, ReadOnlySpan<string> excluded)
    {
        if (excluded.IsEmpty)
        {
            writer.WriteValue(value);
            return;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("Top-level keys can only be excluded from a JSON object.", nameof(value));
        }

        writer.WriteObject(value, KeyFilter.Except(excluded.ToArray()));
    }
}
