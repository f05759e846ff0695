using System.Text.Json;

namespace Homeserver.Rooms;

/// <summary>Small tolerant readers over <see cref="JsonElement"/> that never throw on unexpected shapes.</summary>
internal static class Json
{
    public static bool TryGetProperty(JsonElement obj, string name, out JsonElement value)
    {
        if (obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out value))
        {
            return true;
        }

        value = default;
        return false;
    }

    public static string? GetString(JsonElement obj, string name) =>
        TryGetProperty(obj, name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static bool Has(JsonElement obj, string name) => TryGetProperty(obj, name, out _);

    /// <summary>A JSON number that is an integer (no fraction or exponent) and fits in 64 bits.</summary>
    public static bool TryGetInteger(JsonElement v, out long value)
    {
        value = 0;
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out value);
    }
}
