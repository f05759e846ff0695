using System.Text;

namespace Homeserver.Crypto.Tests;

public sealed class UnpaddedBase64Tests
{
    // Appendices, "Unpadded Base64": the examples.
    [Theory]
    [InlineData("", "")]
    [InlineData("f", "Zg")]
    [InlineData("fo", "Zm8")]
    [InlineData("foo", "Zm9v")]
    [InlineData("foob", "Zm9vYg")]
    [InlineData("fooba", "Zm9vYmE")]
    [InlineData("foobar", "Zm9vYmFy")]
    public void Encoding_matches_the_spec_examples(string text, string expected)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        UnpaddedBase64.Encode(bytes).Should().Be(expected);
        UnpaddedBase64.Decode(expected).Should().Equal(bytes);
    }

    [Theory]
    [InlineData("Zg==", "f")]
    [InlineData("Zm8=", "fo")]
    [InlineData("Zm9v", "foo")]
    [InlineData("Zm9vYg==", "foob")]
    public void Padded_input_is_accepted(string encoded, string expected) =>
        UnpaddedBase64.Decode(encoded).Should().Equal(Encoding.ASCII.GetBytes(expected));

    [Fact]
    public void Url_safe_encoding_uses_minus_and_underscore()
    {
        byte[] data = [0xfb, 0xff, 0xbf];
        UnpaddedBase64.Encode(data).Should().Be("+/+/");
        UnpaddedBase64.EncodeUrlSafe(data).Should().Be("-_-_");
        UnpaddedBase64.DecodeUrlSafe("-_-_").Should().Equal(data);
        UnpaddedBase64.DecodeUrlSafe("-_-_").Should().Equal(UnpaddedBase64.Decode("+/+/"));
    }

    [Fact]
    public void Every_length_round_trips_in_both_alphabets()
    {
        var random = new Random(42);
        for (var length = 0; length < 200; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);

            var standard = UnpaddedBase64.Encode(data);
            standard.Should().NotContain("=").And.HaveLength(UnpaddedBase64.GetEncodedLength(length));
            standard.Should().Be(Convert.ToBase64String(data).TrimEnd('='));
            UnpaddedBase64.Decode(standard).Should().Equal(data);
            UnpaddedBase64.Decode(Convert.ToBase64String(data)).Should().Equal(data);

            var urlSafe = UnpaddedBase64.EncodeUrlSafe(data);
            urlSafe.Should().Be(standard.Replace('+', '-').Replace('/', '_'));
            UnpaddedBase64.DecodeUrlSafe(urlSafe).Should().Equal(data);
        }
    }

    [Fact]
    public void Utf8_encoding_and_decoding_match_the_string_forms()
    {
        var data = Encoding.UTF8.GetBytes("any carnal pleasure.");
        var utf8 = new byte[UnpaddedBase64.GetEncodedLength(data.Length)];
        UnpaddedBase64.EncodeToUtf8(data, utf8).Should().Be(utf8.Length);
        Encoding.ASCII.GetString(utf8).Should().Be(UnpaddedBase64.Encode(data));

        var decoded = new byte[UnpaddedBase64.GetMaxDecodedLength(utf8.Length)];
        UnpaddedBase64.TryDecodeUtf8(utf8, decoded, out var written).Should().BeTrue();
        decoded[..written].Should().Equal(data);

        UnpaddedBase64.TryDecodeUtf8(utf8, new byte[written - 1], out _).Should().BeFalse("the destination is too small");
    }

    [Theory]
    [InlineData("Z")] // one character in the last quantum carries 6 bits: impossible
    [InlineData("Zm9vY")]
    [InlineData("Zg=")] // partial padding
    [InlineData("Zg===")]
    [InlineData("Z===")]
    [InlineData("====")]
    [InlineData("=")]
    [InlineData("Zm=8")] // padding in the middle
    [InlineData("Zg==Zg==")]
    [InlineData("Zm9v YmFy")] // whitespace
    [InlineData("Zm9v\nYmFy")]
    [InlineData("Zm9v-_")] // URL-safe characters in standard Base64
    [InlineData("Zm9v!")]
    [InlineData("Zm9vé")]
    public void Invalid_standard_input_is_rejected_without_exceptions(string input)
    {
        UnpaddedBase64.TryDecode(input, out var result).Should().BeFalse();
        result.Should().BeEmpty();
        var decode = () => UnpaddedBase64.Decode(input);
        decode.Should().Throw<FormatException>().WithMessage("*Base64*");
    }

    [Theory]
    [InlineData("+/+/")]
    [InlineData("Zm9v/")]
    [InlineData("Z")]
    public void Invalid_url_safe_input_is_rejected(string input)
    {
        UnpaddedBase64.TryDecodeUrlSafe(input, out _).Should().BeFalse();
        var decode = () => UnpaddedBase64.DecodeUrlSafe(input);
        decode.Should().Throw<FormatException>();
    }

    [Fact]
    public void Null_input_is_false_for_try_and_argument_null_for_decode()
    {
        UnpaddedBase64.TryDecode((string?)null, out var result).Should().BeFalse();
        result.Should().BeEmpty();
        var decode = () => UnpaddedBase64.Decode(null!);
        decode.Should().Throw<ArgumentNullException>();
    }

    [Fact]
    public void Non_zero_trailing_bits_are_tolerated_like_other_decoders()
    {
        // "Zh" has trailing bits set; Python's base64 and .NET's Convert both decode it to "f".
        UnpaddedBase64.Decode("Zh").Should().Equal(Convert.FromBase64String("Zh=="));
    }
}
