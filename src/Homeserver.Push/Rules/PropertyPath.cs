using System.Text;
using System.Text.Json;

namespace Homeserver.Push.Rules;

/// <summary>
/// A dot-separated property path such as <c>content.m\.relates_to.rel_type</c> (appendices, "Dot-separated property
/// paths"): <c>\.</c> is a literal dot and <c>\\</c> a literal backslash inside a name; any other escape is kept as
/// written (a backslash followed by the character).
/// </summary>
public sealed class PropertyPath
{
    // An array, not the interface: resolving runs for every rule condition, member and event, and a foreach over an
    // IReadOnlyList allocates its enumerator each time.
    private readonly string[] _segments;

    private PropertyPath(string text, string[] segments)
    {
        Text = text;
        _segments = segments;
    }

    /// <summary>The path as written in the rule.</summary>
    public string Text { get; }

    public IReadOnlyList<string> Segments => _segments;

    /// <summary>True for <c>content.body</c>, which <c>event_match</c> matches by words rather than whole.</summary>
    public bool IsContentBody => Segments is ["content", "body"];

    public static PropertyPath Parse(string path)
    {
        var segments = new List<string>();
        var current = new StringBuilder();
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            if (c == '\\' && i + 1 < path.Length && path[i + 1] is '.' or '\\')
            {
                current.Append(path[i + 1]);
                i++;
            }
            else if (c == '.')
            {
                segments.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }

        segments.Add(current.ToString());
        return new PropertyPath(path, [.. segments]);
    }

    /// <summary>The value at this path in <paramref name="root"/>, or false when a step is missing or not an object.</summary>
    public bool TryResolve(JsonElement root, out JsonElement value)
    {
        value = root;
        foreach (var segment in _segments)
        {
            if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty(segment, out var next))
            {
                value = default;
                return false;
            }

            value = next;
        }

        return true;
    }

    public override string ToString() => string.Join('.', Segments.Select(s => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(".", "\\.", StringComparison.Ordinal)));
}
