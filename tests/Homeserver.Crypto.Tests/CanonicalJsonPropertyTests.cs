using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Homeserver.Crypto.Tests;

/// <summary>
/// Fuzz-style properties over random JSON trees (fixed seeds, so failures reproduce): the encoding preserves the
/// value, is idempotent, does not depend on how the input was written, and equals a deliberately naive
/// string-based oracle written here from the spec's rules.
/// </summary>
public sealed class CanonicalJsonPropertyTests
{
    private const string Specials = "\"\\/'<>&\u007f";

    private static readonly JsonSerializerOptions[] Writers =
    [
        new() { WriteIndented = false, Encoder = JavaScriptEncoder.Default },
        new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping },
        new() { WriteIndented = true, Encoder = JavaScriptEncoder.Create(System.Text.Unicode.UnicodeRanges.All) },
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Random_trees_survive_encoding_and_encoding_is_idempotent(int seed)
    {
        var random = new Random(seed);
        for (var i = 0; i < 150; i++)
        {
            var tree = RandomValue(random, depth: 0);
            var canonical = CanonicalJson.Encode(tree);

            using var reparsed = JsonDocument.Parse(canonical);
            using var original = JsonDocument.Parse(tree?.ToJsonString() ?? "null");
            JsonElement.DeepEquals(reparsed.RootElement, original.RootElement).Should().BeTrue("encoding must preserve the value");

            CanonicalJson.Encode(reparsed.RootElement).Should().Equal(canonical, "encoding canonical JSON again must not change it");
        }
    }

    [Theory]
    [InlineData(10)]
    [InlineData(11)]
    [InlineData(12)]
    public void Random_trees_encode_exactly_like_a_naive_oracle_however_the_input_was_written(int seed)
    {
        var random = new Random(seed);
        for (var i = 0; i < 150; i++)
        {
            var tree = RandomValue(random, depth: 0);
            var expected = Encoding.UTF8.GetBytes(Oracle(tree));
            foreach (var options in Writers)
            {
                var text = tree?.ToJsonString(options) ?? "null";
                CanonicalJson.Encode(Encoding.UTF8.GetBytes(text)).Should().Equal(expected, $"input was {text}");
            }
        }
    }

    private static JsonNode? RandomValue(Random random, int depth)
    {
        var kind = random.Next(depth >= 4 ? 5 : 7);
        switch (kind)
        {
            case 0: return null;
            case 1: return JsonValue.Create(random.Next(2) == 0);
            case 2: return JsonValue.Create(RandomInteger(random));
            case 3:
            case 4: return JsonValue.Create(RandomString(random, 12));
            case 5:
                var array = new JsonArray();
                for (var i = random.Next(5); i > 0; i--)
                {
                    array.Add(RandomValue(random, depth + 1));
                }

                return array;
            default:
                var obj = new JsonObject();
                for (var i = random.Next(7); i > 0; i--)
                {
                    obj.TryAdd(RandomString(random, 6), RandomValue(random, depth + 1));
                }

                return obj;
        }
    }

    private static long RandomInteger(Random random) => random.Next(4) switch
    {
        0 => random.Next(-10, 10),
        1 => CanonicalJsonNumbers.MaxSafeInteger - random.Next(3),
        2 => -CanonicalJsonNumbers.MaxSafeInteger + random.Next(3),
        _ => random.NextInt64(-CanonicalJsonNumbers.MaxSafeInteger, CanonicalJsonNumbers.MaxSafeInteger),
    };

    private static string RandomString(Random random, int maxLength)
    {
        var sb = new StringBuilder();
        for (var i = random.Next(maxLength + 1); i > 0; i--)
        {
            switch (random.Next(8))
            {
                case 0: sb.Append((char)random.Next(0x00, 0x20)); break; // control characters
                case 1: sb.Append(Specials[random.Next(Specials.Length)]); break;
                case 2: sb.Append((char)random.Next(0x80, 0xD800)); break; // BMP below the surrogates
                case 3: sb.Append((char)random.Next(0xE000, 0x10000)); break; // BMP above them (ﬁ, U+FFFF...)
                case 4: sb.Append(char.ConvertFromUtf32(random.Next(0x10000, 0x110000))); break; // astral
                default: sb.Append((char)random.Next('a', 'f')); break; // many shared prefixes
            }
        }

        return sb.ToString();
    }

    /// <summary>The spec's rules, written the slow obvious way on .NET strings.</summary>
    private static string Oracle(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return "null";
            case JsonObject obj:
                var keys = obj.Select(p => p.Key).ToList();
                keys.Sort(CompareByCodePoint);
                return "{" + string.Join(",", keys.Select(k => Quote(k) + ":" + Oracle(obj[k]))) + "}";
            case JsonArray array:
                return "[" + string.Join(",", array.Select(Oracle)) + "]";
            default:
                var value = node.AsValue();
                return value.GetValueKind() switch
                {
                    JsonValueKind.String => Quote(value.GetValue<string>()),
                    JsonValueKind.Number => value.GetValue<long>().ToString(CultureInfo.InvariantCulture),
                    JsonValueKind.True => "true",
                    _ => "false",
                };
        }
    }

    private static int CompareByCodePoint(string a, string b)
    {
        var x = a.EnumerateRunes().Select(r => r.Value).ToArray();
        var y = b.EnumerateRunes().Select(r => r.Value).ToArray();
        for (var i = 0; i < Math.Min(x.Length, y.Length); i++)
        {
            if (x[i] != y[i])
            {
                return x[i].CompareTo(y[i]);
            }
        }

        return x.Length.CompareTo(y.Length);
    }

    private static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in s)
        {
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\b' => "\\b",
                '\f' => "\\f",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                < ' ' => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
                _ => c.ToString(),
            });
        }

        return sb.Append('"').ToString();
    }
}
