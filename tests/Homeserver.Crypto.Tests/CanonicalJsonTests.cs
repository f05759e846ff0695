using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static Homeserver.Crypto.Tests.TestSupport;

namespace Homeserver.Crypto.Tests;

public sealed class CanonicalJsonTests
{
    // Appendices, "Canonical JSON", "Examples": every example in that section, input then expected output.
    // (The last example, {"a": -0, "b": 1e10}, has its own tests below: it depends on the number mode.)
    public static TheoryData<string, string> SpecExamples => new()
    {
        { "{}", "{}" },
        { "{\n    \"one\": 1,\n    \"two\": \"Two\"\n}", "{\"one\":1,\"two\":\"Two\"}" },
        { "{\n    \"b\": \"2\",\n    \"a\": \"1\"\n}", "{\"a\":\"1\",\"b\":\"2\"}" },
        { "{\"b\":\"2\",\"a\":\"1\"}", "{\"a\":\"1\",\"b\":\"2\"}" },
        {
            """
            {
                "auth": {
                    "success": true,
                    "mxid": "@john.doe:example.com",
                    "profile": {
                        "display_name": "John Doe",
                        "three_pids": [
                            {
                                "medium": "email",
                                "address": "john.doe@example.org"
                            },
                            {
                                "medium": "msisdn",
                                "address": "123456789"
                            }
                        ]
                    }
                }
            }
            """,
            """{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"""
        },
        { "{\n    \"a\": \"日本語\"\n}", "{\"a\":\"日本語\"}" },
        { "{\n    \"本\": 2,\n    \"日\": 1\n}", "{\"日\":1,\"本\":2}" },
        { "{\n    \"a\": \"\\u65E5\"\n}", "{\"a\":\"日\"}" },
        { "{\n    \"a\": null\n}", "{\"a\":null}" },
    };

    [Theory]
    [MemberData(nameof(SpecExamples))]
    public void Spec_examples_produce_the_spec_output(string input, string expected)
    {
        Canonical(input).Should().Be(expected);
        Canonical(input, CanonicalJsonMode.Legacy).Should().Be(expected);
        Canonical(input, CanonicalJsonMode.IntegralValues).Should().Be(expected);
    }

    [Fact]
    public void Spec_example_with_minus_zero_and_1e10_is_produced_by_the_integral_values_mode()
    {
        const string input = "{\n    \"a\": -0,\n    \"b\": 1e10\n}";
        Canonical(input, CanonicalJsonMode.IntegralValues).Should().Be("{\"a\":0,\"b\":10000000000}");
    }

    [Fact]
    public void Spec_example_with_1e10_is_rejected_in_strict_mode_because_it_is_written_with_an_exponent()
    {
        // Synapse (Python) parses 1e10 as a float and rejects it in room versions 6+; so do we.
        var act = () => Canonical("{\"a\": -0, \"b\": 1e10}");
        act.Should().Throw<CanonicalJsonException>().Which.Path.Should().Be("b");
    }

    [Fact]
    public void Spec_example_with_1e10_follows_python_in_legacy_mode()
    {
        // python3: json.dumps(json.loads('{"a": -0, "b": 1e10}'), separators=(",", ":"), sort_keys=True)
        Canonical("{\"a\": -0, \"b\": 1e10}", CanonicalJsonMode.Legacy).Should().Be("{\"a\":0,\"b\":10000000000.0}");
    }

    [Fact]
    public void Nested_objects_and_arrays_are_sorted_at_every_level_but_arrays_keep_their_order()
    {
        const string input = """
            { "z": [3, 1, {"y": 1, "x": [ {"d": 4, "c": 3} ]}], "a": { "c": { "f": false, "e": true }, "b": [] } }
            """;
        Canonical(input).Should().Be("""{"a":{"b":[],"c":{"e":true,"f":false}},"z":[3,1,{"x":[{"c":3,"d":4}],"y":1}]}""");
    }

    [Theory]
    [InlineData("true", "true")]
    [InlineData("null", "null")]
    [InlineData(" \"x\" ", "\"x\"")]
    [InlineData("[ 1 , 2 ]", "[1,2]")]
    [InlineData("42", "42")]
    public void Values_other_than_objects_can_be_encoded(string input, string expected) =>
        Canonical(input).Should().Be(expected);

    [Fact]
    public void Only_the_escapes_the_grammar_requires_are_written()
    {
        // Input uses escapes for everything; output must be raw UTF-8 except ", \ and control characters.
        const string input = """
            ["\"", "\\", "\/", "\b", "\f", "\n", "\r", "\t", "\u0000", "\u0001", "\u000b", "\u000e", "\u001f", "\u0020", "\u007f", "\u00e9", "\u2028", "\u2029", "\ufeff", "<>&'"]
            """;
        var expected = "[\"\\\"\",\"\\\\\",\"/\",\"\\b\",\"\\f\",\"\\n\",\"\\r\",\"\\t\",\"\\u0000\",\"\\u0001\",\"\\u000b\",\"\\u000e\",\"\\u001f\",\" \",\"\u007f\",\"é\",\"\u2028\",\"\u2029\",\"\ufeff\",\"<>&'\"]";
        Canonical(input).Should().Be(expected);
    }

    [Fact]
    public void Every_ascii_control_character_gets_its_grammar_escape()
    {
        for (var c = 0; c < 0x20; c++)
        {
            var input = "\"\\u" + c.ToString("x4", System.Globalization.CultureInfo.InvariantCulture) + "\"";
            var expected = c switch
            {
                0x08 => "\"\\b\"",
                0x09 => "\"\\t\"",
                0x0a => "\"\\n\"",
                0x0c => "\"\\f\"",
                0x0d => "\"\\r\"",
                _ => "\"\\u00" + c.ToString("x2", System.Globalization.CultureInfo.InvariantCulture) + "\"",
            };
            Canonical(input).Should().Be(expected, $"U+{c:X4}");
        }
    }

    [Fact]
    public void Astral_characters_are_written_as_four_byte_utf8_whether_escaped_or_not()
    {
        var canonical = CanonicalJson.Encode(Parse("{\"a\":\"\\ud83d\\ude00\",\"b\":\"😀\"}"));
        canonical.Should().Equal(Encoding.UTF8.GetBytes("{\"a\":\"😀\",\"b\":\"😀\"}"));
        canonical.Should().ContainInOrder(new byte[] { 0xF0, 0x9F, 0x98, 0x80 });
    }

    [Fact]
    public void Keys_are_sorted_by_code_point_not_by_utf16_code_unit()
    {
        // U+FB01 (ﬁ) is one UTF-16 unit 0xFB01; U+1F600 (😀) is the pair 0xD83D 0xDE00. Ordinal UTF-16 order puts
        // 😀 first (0xD83D < 0xFB01); code point order puts ﬁ first (0xFB01 < 0x1F600).
        string.CompareOrdinal("😀", "ﬁ").Should().BeNegative("this is the trap the test is about");

        Canonical("{\"😀\": 1, \"ﬁ\": 2, \"\\uffff\": 3, \"z\": 4, \"\\ud800\\udc00\": 5}")
            .Should().Be("{\"z\":4,\"ﬁ\":2,\"\uffff\":3,\"𐀀\":5,\"😀\":1}");
    }

    [Fact]
    public void Escaped_keys_sort_and_compare_by_their_unescaped_value()
    {
        Canonical("{\"b\": 1, \"\\u0061\": 2, \"a\\\"\": 3, \"\\n\": 4}").Should().Be("{\"\\n\":4,\"a\":2,\"a\\\"\":3,\"b\":1}");
    }

    [Theory]
    [InlineData("{\"a\": 1, \"a\": 2}")]
    [InlineData("{\"a\": 1, \"\\u0061\": 1}")]
    [InlineData("{\"x\": {\"b\": 1, \"b\": 1}}")]
    [InlineData("[{\"😀\": 1, \"\\ud83d\\ude00\": 2}]")]
    public void Duplicate_keys_are_rejected(string input)
    {
        var act = () => Canonical(input);
        act.Should().Throw<CanonicalJsonException>().WithMessage("*more than once*");
    }

    [Theory]
    [InlineData("9007199254740991", "9007199254740991")]
    [InlineData("-9007199254740991", "-9007199254740991")]
    [InlineData("0", "0")]
    [InlineData("-0", "0")]
    [InlineData("-1", "-1")]
    [InlineData("1234567890123456", "1234567890123456")]
    public void Integers_in_the_safe_range_are_written_as_they_are(string input, string expected) =>
        Canonical(input).Should().Be(expected);

    [Theory]
    [InlineData("9007199254740992")]
    [InlineData("-9007199254740992")]
    [InlineData("12345678901234567890")]
    [InlineData("99999999999999999999999999999999999999")]
    public void Integers_outside_the_safe_range_are_rejected_in_strict_mode(string input)
    {
        var act = () => Canonical(input);
        act.Should().Throw<CanonicalJsonException>().WithMessage("*range*");
    }

    [Theory]
    [InlineData("1.0")]
    [InlineData("1e3")]
    [InlineData("1E3")]
    [InlineData("1e+3")]
    [InlineData("0.5")]
    [InlineData("-0.0")]
    [InlineData("1.5e-3")]
    public void Floats_and_exponents_are_rejected_in_strict_mode(string input)
    {
        var act = () => Canonical("{\"content\": {\"n\": [0, " + input + "]}}");
        var error = act.Should().Throw<CanonicalJsonException>().Which;
        error.Message.Should().Contain(input).And.Contain("integer");
        error.Path.Should().Be("content.n[1]");
    }

    [Theory]
    [InlineData("\"\\ud800\"")]
    [InlineData("\"\\udc00\"")]
    [InlineData("\"a\\ud83dz\"")]
    [InlineData("{\"\\ud800\": 1}")]
    public void Lone_surrogates_are_rejected_because_utf8_cannot_carry_them(string input)
    {
        var act = () => Canonical(input);
        act.Should().Throw<CanonicalJsonException>().WithMessage("*surrogate*");
    }

    [Fact]
    public void Invalid_utf8_is_rejected()
    {
        // System.Text.Json does not validate UTF-8 inside strings when parsing; the encoder must.
        byte[] input = [(byte)'"', 0xC3, 0x28, (byte)'"'];
        var act = () => CanonicalJson.Encode(input.AsSpan());
        act.Should().Throw<CanonicalJsonException>().WithMessage("*UTF-8*");
    }

    [Fact]
    public void Top_level_keys_can_be_excluded_without_copying()
    {
        var value = Parse("{\"unsigned\": {\"age\": 1}, \"b\": 1, \"signatures\": {}, \"a\": {\"unsigned\": 2}}");
        Utf8(CanonicalJson.Encode(value, CanonicalJsonMode.Strict, "signatures", "unsigned"))
            .Should().Be("{\"a\":{\"unsigned\":2},\"b\":1}", "only top-level keys are excluded");
    }

    [Fact]
    public void Excluding_keys_from_a_non_object_is_an_argument_error()
    {
        var act = () => CanonicalJson.Encode(Parse("[1]"), CanonicalJsonMode.Strict, "a");
        act.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Canonical_json_can_be_written_into_an_existing_utf8_json_writer()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WritePropertyName("signed");
            CanonicalJson.Write(Parse("{\"b\": \"é\", \"a\": 1, \"x\": 0}"), writer, CanonicalJsonMode.Strict, "x");
            writer.WriteEndObject();
        }

        Utf8(buffer.WrittenSpan.ToArray()).Should().Contain("\"signed\": {\"a\":1,\"b\":\"é\"}");
    }

    [Fact]
    public void Canonical_json_can_be_appended_to_a_buffer_writer()
    {
        var buffer = new ArrayBufferWriter<byte>();
        buffer.Write("prefix:"u8);
        CanonicalJson.Write(Parse("{\"b\": 2, \"a\": 1}"), buffer);
        Utf8(buffer.WrittenSpan.ToArray()).Should().Be("prefix:{\"a\":1,\"b\":2}");
    }

    [Fact]
    public void Json_nodes_encode_like_the_equivalent_element()
    {
        var node = new JsonObject
        {
            ["b"] = "日本語 <script>",
            ["a"] = new JsonArray(1, "two", null, true),
            ["c"] = new JsonObject { ["😀"] = 1, ["ﬁ"] = 2 },
        };
        Utf8(CanonicalJson.Encode(node)).Should().Be("{\"a\":[1,\"two\",null,true],\"b\":\"日本語 <script>\",\"c\":{\"ﬁ\":2,\"😀\":1}}");
        Utf8(CanonicalJson.Encode((JsonNode?)null)).Should().Be("null");
    }

    [Fact]
    public void Raw_utf8_input_is_parsed_and_encoded()
    {
        Utf8(CanonicalJson.Encode("{ \"b\" : 1 , \"a\" : [ ] }"u8)).Should().Be("{\"a\":[],\"b\":1}");
        var trailing = () => CanonicalJson.Encode("{} {}"u8);
        trailing.Should().Throw<JsonException>();
    }

    [Fact]
    public void Validation_reports_the_problem_and_its_path()
    {
        var value = Parse("{\"content\": {\"info\": [{}, {}, {\"size\": 1.5}]}}");
        CanonicalJson.IsValid(value, CanonicalJsonMode.Strict, out var problem).Should().BeFalse();
        problem.Should().Contain("1.5").And.Contain("content.info[2].size");
        CanonicalJson.IsValid(value, CanonicalJsonMode.Legacy, out problem).Should().BeTrue();
        problem.Should().BeNull();
        var validate = () => CanonicalJson.Validate(value);
        validate.Should().Throw<CanonicalJsonException>().Which.Problem.Should().NotContain("content.info");
    }

    [Fact]
    public void The_mode_follows_the_room_version()
    {
        CanonicalJson.ModeFor(Homeserver.Core.RoomVersion.V5).Should().Be(CanonicalJsonMode.Legacy);
        CanonicalJson.ModeFor(Homeserver.Core.RoomVersion.V6).Should().Be(CanonicalJsonMode.Strict);
        CanonicalJson.ModeFor(Homeserver.Core.RoomVersion.V12).Should().Be(CanonicalJsonMode.Strict);
    }

    [Fact]
    public void Sha256_of_the_canonical_form_matches_hashing_the_encoded_bytes()
    {
        var value = Parse("{\"b\": 1, \"a\": \"x\", \"unsigned\": {}}");
        CanonicalJson.Sha256(value, CanonicalJsonMode.Strict, "unsigned")
            .Should().Equal(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes("{\"a\":\"x\",\"b\":1}")));
    }

    [Fact]
    public void Large_documents_with_many_keys_and_long_strings_encode_correctly()
    {
        var node = new JsonObject();
        for (var i = 999; i >= 0; i--)
        {
            node[$"key{i:D4}"] = new string((char)('a' + (i % 26)), i);
        }

        var encoded = Utf8(CanonicalJson.Encode(node));
        encoded.Should().StartWith("{\"key0000\":\"\",\"key0001\":\"b\",\"key0002\":\"cc\"");
        encoded.Should().EndWith("\"key0999\":\"" + new string('l', 999) + "\"}");
    }
}
