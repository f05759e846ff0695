using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Homeserver.Host.Configuration;

/// <summary>
/// Turns a YAML document into the flat <c>section:key</c> / <c>list:0:key</c> pairs of
/// Microsoft.Extensions.Configuration, so that environment variables (<c>HS__section__key</c>)
/// can override any value with the standard .NET mechanism.
/// </summary>
internal static class YamlFlattener
{
    public static Dictionary<string, string?> Flatten(string yaml, string sourceName)
    {
        var result = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new ConfigException(sourceName, $"not valid YAML at line {e.Start.Line}, column {e.Start.Column}: {e.InnerException?.Message ?? e.Message}");
        }

        if (stream.Documents.Count == 0)
        {
            return result;
        }

        var root = stream.Documents[0].RootNode;
        if (root is YamlScalarNode { Value: null or "" or "~" or "null" })
        {
            return result;
        }

        if (root is not YamlMappingNode)
        {
            throw new ConfigException(sourceName, "the top level must be a mapping of keys to values");
        }

        Visit(root, string.Empty, result);
        return result;
    }

    private static void Visit(YamlNode node, string prefix, Dictionary<string, string?> into)
    {
        switch (node)
        {
            case YamlMappingNode map:
                if (map.Children.Count == 0 && prefix.Length > 0)
                {
                    into[prefix] = string.Empty;
                }

                foreach (var (key, value) in map.Children)
                {
                    var name = ((YamlScalarNode)key).Value ?? string.Empty;
                    Visit(value, prefix.Length == 0 ? name : prefix + ":" + name, into);
                }

                break;
            case YamlSequenceNode seq:
                if (seq.Children.Count == 0)
                {
                    // An explicitly empty list is different from an absent key (e.g. federation_domain_whitelist: []).
                    into[prefix] = string.Empty;
                }

                for (var i = 0; i < seq.Children.Count; i++)
                {
                    Visit(seq.Children[i], prefix + ":" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), into);
                }

                break;
            case YamlScalarNode scalar:
                // A plain "~" or "null" is YAML's null; keep quoted strings as they are.
                var isNull = scalar.Style == ScalarStyle.Plain && scalar.Value is null or "~" or "null" or "Null" or "NULL";
                into[prefix] = isNull ? null : scalar.Value;
                break;
        }
    }
}
