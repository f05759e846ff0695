using System.Text.Json;
using static Homeserver.Crypto.Tests.TestSupport;

namespace Homeserver.Crypto.Tests;

public sealed class XMatrixAuthorizationTests
{
    private const string Origin = "origin.hs.example.com";
    private const string Destination = "destination.hs.example.com";
    private const string Uri = "/_matrix/federation/v1/send/1234?x=y";
    private const string Body = """{"pdus": [], "edus": [{"edu_type": "m.typing"}]}""";

    /// <summary>generate_vectors.py, "x-matrix sig": the spec's key signing the REQUEST object with Python.</summary>
    private const string PythonSignature = "ckoxqKbmXXLYA46eXcgO5PKzDHhwcA+WGOsTWYpE9OhcOghlSrkyGcEuf24oipUkbxgAErU2ujv8I/27DsPYDw";

    [Fact]
    public void Signing_a_request_matches_python_and_formats_the_header_like_the_spec()
    {
        using var key = SpecKey();
        var auth = XMatrixAuthorization.Create("PUT", Uri, Origin, Destination, Parse(Body), key);
        auth.Signature.Should().Be(PythonSignature);
        auth.ToHeaderValue().Should().Be(
            $"X-Matrix origin=\"{Origin}\",destination=\"{Destination}\",key=\"ed25519:1\",sig=\"{PythonSignature}\"");
    }

    [Fact]
    public void The_signed_object_is_the_canonical_request_json()
    {
        Utf8(XMatrixAuthorization.BuildSignedBytes("GET", "/_matrix/key/v2/server", "a.org", "b.org", null))
            .Should().Be("{\"destination\":\"b.org\",\"method\":\"GET\",\"origin\":\"a.org\",\"uri\":\"/_matrix/key/v2/server\"}");
        Utf8(XMatrixAuthorization.BuildSignedBytes("PUT", "/x", "a.org", "b.org", Parse("{\"b\":1,\"a\":[]}")))
            .Should().Be("{\"content\":{\"a\":[],\"b\":1},\"destination\":\"b.org\",\"method\":\"PUT\",\"origin\":\"a.org\",\"uri\":\"/x\"}");
    }

    [Fact]
    public void Round_trip_through_the_header_verifies()
    {
        using var key = Ed25519SigningKey.Generate("k1");
        var header = XMatrixAuthorization.Create("PUT", Uri, Origin, Destination, Parse(Body), key).ToHeaderValue();
        var parsed = XMatrixAuthorization.Parse(header);
        parsed.Verify("PUT", Uri, Destination, Parse(Body), key.PublicKey).Should().Be(SignatureVerification.Valid);
    }

    [Fact]
    public void Requests_without_a_body_verify()
    {
        using var key = Ed25519SigningKey.Generate("k1");
        var auth = XMatrixAuthorization.Create("GET", "/_matrix/federation/v1/version", Origin, Destination, null, key);
        auth.Verify("GET", "/_matrix/federation/v1/version", Destination, null, key.PublicKey).Should().Be(SignatureVerification.Valid);
        auth.Verify("GET", "/_matrix/federation/v1/version", Destination, Parse("{}"), key.PublicKey)
            .Should().Be(SignatureVerification.BadSignature, "an empty object is not the same as no body");
    }

    [Fact]
    public void Tampering_with_method_uri_body_destination_or_origin_fails()
    {
        using var key = Ed25519SigningKey.Generate("k1");
        var auth = XMatrixAuthorization.Create("PUT", Uri, Origin, Destination, Parse(Body), key);

        auth.Verify("POST", Uri, Destination, Parse(Body), key.PublicKey).Should().Be(SignatureVerification.BadSignature);
        auth.Verify("PUT", Uri + "&z=1", Destination, Parse(Body), key.PublicKey).Should().Be(SignatureVerification.BadSignature);
        auth.Verify("PUT", Uri, Destination, Parse("""{"pdus": [], "edus": []}"""), key.PublicKey).Should().Be(SignatureVerification.BadSignature);
        auth.Verify("PUT", Uri, Destination, null, key.PublicKey).Should().Be(SignatureVerification.BadSignature);
        auth.Verify("PUT", Uri, "evil.example.com", Parse(Body), key.PublicKey).Should().Be(SignatureVerification.DestinationMismatch);
        (auth with { Destination = null }).Verify("PUT", Uri, "evil.example.com", Parse(Body), key.PublicKey)
            .Should().Be(SignatureVerification.BadSignature, "without the parameter, our own name is what must have been signed");
        (auth with { Origin = "other.example.com" }).Verify("PUT", Uri, Destination, Parse(Body), key.PublicKey)
            .Should().Be(SignatureVerification.BadSignature);
    }

    [Fact]
    public void An_old_header_without_destination_verifies_when_it_was_signed_for_us()
    {
        using var key = Ed25519SigningKey.Generate("k1");
        var auth = XMatrixAuthorization.Create("PUT", Uri, Origin, Destination, Parse(Body), key);
        var old = XMatrixAuthorization.Parse($"X-Matrix origin={Origin},key={auth.KeyId},sig=\"{auth.Signature}\"");
        old.Destination.Should().BeNull();
        old.Verify("PUT", Uri, Destination, Parse(Body), key.PublicKey).Should().Be(SignatureVerification.Valid);
    }

    [Fact]
    public void Malformed_signatures_keys_and_algorithms_are_reported()
    {
        using var key = Ed25519SigningKey.Generate("k1");
        var auth = XMatrixAuthorization.Create("GET", "/x", Origin, Destination, null, key);
        (auth with { Signature = "%%%" }).Verify("GET", "/x", Destination, null, key.PublicKey).Should().Be(SignatureVerification.MalformedSignature);
        (auth with { KeyId = "rsa:1" }).Verify("GET", "/x", Destination, null, key.PublicKey).Should().Be(SignatureVerification.UnsupportedAlgorithm);
        auth.Verify("GET", "/x", Destination, null, new byte[5]).Should().Be(SignatureVerification.InvalidPublicKey);
        auth.Verify("GET", "/x", Destination, Parse("{\"a\":1,\"a\":2}"), key.PublicKey).Should().Be(SignatureVerification.InvalidJson);
    }

    [Fact]
    public void Legacy_number_mode_lets_old_room_events_with_floats_through_request_signing()
    {
        using var key = Ed25519SigningKey.Generate("k1");
        var body = Parse("{\"pdus\":[{\"content\":{\"n\":1.5}}]}");
        var auth = XMatrixAuthorization.Create("PUT", "/t", Origin, Destination, body, key);
        auth.Verify("PUT", "/t", Destination, body, key.PublicKey).Should().Be(SignatureVerification.Valid);
        auth.Verify("PUT", "/t", Destination, body, key.PublicKey, CanonicalJsonMode.Strict).Should().Be(SignatureVerification.InvalidJson);
    }

    public static TheoryData<string, string, string?, string, string> ValidHeaders => new()
    {
        { "X-Matrix origin=\"a.org\",destination=\"b.org\",key=\"ed25519:1\",sig=\"abc\"", "a.org", "b.org", "ed25519:1", "abc" },
        { "X-Matrix origin=a.org,key=\"ed25519:1\",sig=abc", "a.org", null, "ed25519:1", "abc" },
        { "x-matrix   ORIGIN = \"a.org\" ,\tKey=\"ed25519:1\" , SIG=\"abc\", destination=\"b.org\"", "a.org", "b.org", "ed25519:1", "abc" },
        { "X-Matrix origin=a.org:8448,key=ed25519:a_1,sig=ab/c+d==", "a.org:8448", null, "ed25519:a_1", "ab/c+d==" },
        { "X-Matrix origin=\"we\\\"ird\\\\name\",key=\"ed25519:1\",sig=\"s,ig\"", "we\"ird\\name", null, "ed25519:1", "s,ig" },
        { "X-Matrix foo=\"bar, baz\",origin=a.org,key=ed25519:1,sig=abc,extra=1", "a.org", null, "ed25519:1", "abc" },
        { "X-Matrix origin=a.org,key=ed25519:1,signature=abc", "a.org", null, "ed25519:1", "abc" },
        { "  X-Matrix origin=a.org,key=ed25519:1,sig=abc  ", "a.org", null, "ed25519:1", "abc" },
        { "X-Matrix origin=a.org,,key=ed25519:1, ,sig=abc", "a.org", null, "ed25519:1", "abc" },
        { "X-Matrix\torigin=[::1]:8448,key=ed25519:1,sig=abc", "[::1]:8448", null, "ed25519:1", "abc" },
    };

    [Theory]
    [MemberData(nameof(ValidHeaders))]
    public void Valid_headers_parse(string header, string origin, string? destination, string key, string sig)
    {
        XMatrixAuthorization.TryParse(header, out var auth).Should().BeTrue();
        auth!.Origin.Should().Be(origin);
        auth.Destination.Should().Be(destination);
        auth.KeyId.Should().Be(key);
        auth.Signature.Should().Be(sig);
    }

    public static TheoryData<string> InvalidHeaders => new()
    {
        "",
        "   ",
        "Bearer abc",
        "X-Matrix",
        "X-Matrixorigin=a.org,key=ed25519:1,sig=abc",
        "X-Matrix origin=\"a.org\",key=\"ed25519:1\"",
        "X-Matrix key=\"ed25519:1\",sig=abc",
        "X-Matrix origin=a.org,sig=abc",
        "X-Matrix origin=\"a.org,key=ed25519:1,sig=abc",
        "X-Matrix origin,key=ed25519:1,sig=abc",
        "X-Matrix origin=,key=ed25519:1,sig=abc",
        "X-Matrix origin=\"\",key=ed25519:1,sig=abc",
        "X-Matrix origin=a.org,origin=b.org,key=ed25519:1,sig=abc",
        "X-Matrix origin=a.org key=ed25519:1 sig=abc",
        "X-Matrix =a.org",
        "X-Matrix origin=a.org,destination=\"\",key=ed25519:1,sig=abc",
        "X-Matrix origin=\"a.org\"x,key=ed25519:1,sig=abc",
        "X-Matrix origin=a\"b,key=ed25519:1,sig=abc",
        "X-Matrix origin=\"a\nb\",key=ed25519:1,sig=abc",
        "X-Matrix origin=a.org,key=ed25519:1,sig=abc\\",
        "X-Matrix origin=a.org,key=ed25519:1,sig=\"abc\\",
    };

    [Theory]
    [MemberData(nameof(InvalidHeaders))]
    public void Invalid_or_incomplete_headers_do_not_parse(string header)
    {
        XMatrixAuthorization.TryParse(header, out var auth).Should().BeFalse();
        auth.Should().BeNull();
        var parse = () => XMatrixAuthorization.Parse(header);
        parse.Should().Throw<FormatException>();
    }

    [Fact]
    public void A_null_header_does_not_parse() =>
        XMatrixAuthorization.TryParse(null, out _).Should().BeFalse();

    [Fact]
    public void Formatting_quotes_and_escapes_values_and_omits_a_missing_destination()
    {
        var auth = new XMatrixAuthorization { Origin = "a\"b", Destination = null, KeyId = "ed25519:1", Signature = "x\\y" };
        var header = auth.ToHeaderValue();
        header.Should().Be("X-Matrix origin=\"a\\\"b\",key=\"ed25519:1\",sig=\"x\\\\y\"");
        XMatrixAuthorization.Parse(header).Should().Be(auth);
    }

    [Theory]
    [InlineData("a.org\r\nX-Evil: 1")]
    [InlineData("")]
    public void Header_injection_through_server_names_is_refused(string origin)
    {
        using var key = Ed25519SigningKey.Generate("k1");
        var act = () => XMatrixAuthorization.Create("GET", "/x", origin, Destination, null, key);
        act.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Verification_uses_the_body_as_parsed_json_not_its_bytes()
    {
        using var key = Ed25519SigningKey.Generate("k1");
        var auth = XMatrixAuthorization.Create("PUT", "/x", Origin, Destination, Parse("{\"a\":1,\"b\":\"é\"}"), key);
        using var reformatted = JsonDocument.Parse("{\n  \"b\": \"\\u00e9\",\n  \"a\": 1\n}");
        auth.Verify("PUT", "/x", Destination, reformatted.RootElement, key.PublicKey).Should().Be(SignatureVerification.Valid);
    }
}
