using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Http;

/// <summary>Typed reads of request body fields: a present field of the wrong type is <c>M_BAD_JSON</c>, a missing required one <c>M_MISSING_PARAM</c>.</summary>
public static class JsonFields
{
    public static string? OptionalString(this JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw MatrixException.BadJson($"'{name}' must be a string");
    }

    public static string RequiredString(this JsonElement obj, string name) =>
        obj.OptionalString(name) ?? throw MatrixException.MissingParam($"Missing '{name}'");

    public static bool? OptionalBool(this JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw MatrixException.BadJson($"'{name}' must be a boolean"),
        };
    }

    public static long? OptionalInt(this JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : throw MatrixException.BadJson($"'{name}' must be an integer");
    }

    public static JsonElement? OptionalObject(this JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Object ? v : throw MatrixException.BadJson($"'{name}' must be an object");
    }

    public static JsonElement? OptionalArray(this JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Array ? v : throw MatrixException.BadJson($"'{name}' must be an array");
    }

    public static List<string>? OptionalStringArray(this JsonElement obj, string name)
    {
        if (obj.OptionalArray(name) is not { } arr)
        {
            return null;
        }

        var list = new List<string>(arr.GetArrayLength());
        foreach (var item in arr.EnumerateArray())
        {
            list.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw MatrixException.BadJson($"'{name}' must be an array of strings"));
        }

        return list;
    }
}
