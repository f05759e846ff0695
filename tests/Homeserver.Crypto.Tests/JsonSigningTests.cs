using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static Homeserver.Crypto.Tests.TestSupport;

namespace Homeserver.Crypto.Tests;

public sealed class JsonSigningTests
{
    // Appendices, "Cryptographic Test Vectors", "JSON Signing".
    private const string EmptyObjectSignature = "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ";
    private const string DataObjectSignature = "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw";

    [Fact]
    public void Signing_the_empty_object_produces_the_spec_vector()
    {
        using var key = SpecKey();
        var signed = JsonSigning.Sign(Parse("{}"), "domain", key);
        Utf8(signed).Should().Be("{\"signatures\":{\"domain\":{\"ed25519:1\":\"" + EmptyObjectSignature + "\"}}}");
    }

    [Fact]
    public void Signing_an_object_with_data_produces_the_spec_vector()
    {
        using var key = SpecKey();
        var signed = JsonSigning.Sign(Parse("{\"one\": 1, \"two\": \"Two\"}"), "domain", key);
        Utf8(signed).Should().Be("{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:1\":\"" + DataObjectSignature + "\"}},\"two\":\"Two\"}");
    }

    [Fact]
    public void Signing_in_place_produces_the_spec_vector()
    {
        using var key = SpecKey();
        var obj = new JsonObject { ["two"] = "Two", ["one"] = 1 };
        JsonSigning.SignInPlace(obj, "domain", key);
        obj["signatures"]!["domain"]!["ed25519:1"]!.GetValue<string>().Should().Be(DataObjectSignature);
        obj["one"]!.GetValue<int>().Should().Be(1);
    }

    [Fact]
    public void The_spec_vectors_verify_with_the_spec_public_key()
    {
        var publicKey = UnpaddedBase64.Decode(SpecPublicKeyBase64);
        var signed = Parse("{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:1\":\"" + DataObjectSignature + "\"}},\"two\":\"Two\"}");
        JsonSigning.Verify(signed, "domain", "ed25519:1", publicKey).Should().Be(SignatureVerification.Valid);
    }

    [Fact]
    public void Signing_keeps_unsigned_and_other_signatures_and_ignores_them_in_the_signature()
    {
        using var key = SpecKey();
        const string input = """
            {"one": 1, "two": "Two", "unsigned": {"age_ts": 5},
             "signatures": {"other.org": {"ed25519:x": "abc"}, "domain": {"ed25519:0": "old"}}}
            """;
        var signed = Parse(JsonSigning.Sign(Parse(input), "domain", key));

        signed.GetProperty("unsigned").GetProperty("age_ts").GetInt32().Should().Be(5);
        signed.GetProperty("signatures").GetProperty("other.org").GetProperty("ed25519:x").GetString().Should().Be("abc");
        signed.GetProperty("signatures").GetProperty("domain").GetProperty("ed25519:0").GetString().Should().Be("old");
        signed.GetProperty("signatures").GetProperty("domain").GetProperty("ed25519:1").GetString()
            .Should().Be(DataObjectSignature, "neither unsigned nor signatures are covered");
    }

    [Fact]
    public void Signing_again_with_the_same_key_replaces_the_signature()
    {
        using var key = SpecKey();
        var signed = JsonSigning.Sign(Parse("{\"one\":1,\"two\":\"Two\",\"signatures\":{\"domain\":{\"ed25519:1\":\"stale\"}}}"), "domain", key);
        Utf8(signed).Should().Be("{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:1\":\"" + DataObjectSignature + "\"}},\"two\":\"Two\"}");
    }

    [Fact]
    public void Signing_in_place_keeps_existing_signatures()
    {
        using var key = SpecKey();
        var obj = JsonNode.Parse("{\"one\":1,\"two\":\"Two\",\"signatures\":{\"domain\":{\"ed25519:0\":\"old\"}},\"unsigned\":{\"a\":1}}")!.AsObject();
        JsonSigning.SignInPlace(obj, "domain", key);
        obj["signatures"]!["domain"]!.AsObject().Select(p => p.Key).Should().BeEquivalentTo("ed25519:0", "ed25519:1");
        obj["unsigned"]!["a"]!.GetValue<int>().Should().Be(1);
    }

    [Fact]
    public void Signing_rejects_non_objects_and_malformed_signatures()
    {
        using var key = SpecKey();
        var array = () => JsonSigning.Sign(Parse("[]"), "domain", key);
        array.Should().Throw<ArgumentException>();
        var badSignatures = () => JsonSigning.Sign(Parse("{\"signatures\": []}"), "domain", key);
        badSignatures.Should().Throw<ArgumentException>();
        var badEntity = () => JsonSigning.Sign(Parse("{\"signatures\": {\"domain\": 1}}"), "domain", key);
        badEntity.Should().Throw<ArgumentException>();
        var floats = () => JsonSigning.Sign(Parse("{\"a\": 1.5}"), "domain", key);
        floats.Should().Throw<CanonicalJsonException>();
    }

    [Fact]
    public void Sign_then_verify_holds_for_random_keys_and_entities()
    {
        using var key = Ed25519SigningKey.Generate("abc");
        var signed = Parse(JsonSigning.Sign(Parse("{\"a\": [1, {\"b\": \"ü\"}], \"unsigned\": {\"x\": 1}}"), "example.org:8448", key));
        JsonSigning.Verify(signed, "example.org:8448", "ed25519:abc", key.PublicKey).Should().Be(SignatureVerification.Valid);
        JsonSigning.GetSignatureKeyIds(signed, "example.org:8448").Should().Equal("ed25519:abc");
    }

    [Fact]
    public void Changing_unsigned_or_adding_signatures_does_not_break_verification()
    {
        using var key = SpecKey();
        var signed = JsonNode.Parse(JsonSigning.Sign(Parse("{\"a\": 1}"), "domain", key))!.AsObject();
        signed["unsigned"] = new JsonObject { ["age"] = 100 };
        signed["signatures"]!["another.org"] = new JsonObject { ["ed25519:z"] = "sig" };
        JsonSigning.Verify(Parse(signed.ToJsonString()), "domain", "ed25519:1", key.PublicKey).Should().Be(SignatureVerification.Valid);
    }

    [Fact]
    public void Flipping_any_bit_of_the_signed_payload_fails_verification()
    {
        using var key = SpecKey();
        var payload = Encoding.UTF8.GetBytes("{\"one\":1,\"three\":[true,null,\"x\\\"y\"],\"two\":\"Two\"}");
        var signature = JsonSigning.CreateSignature(Parse(payload), key);

        var signatures = Encoding.UTF8.GetBytes(",\"signatures\":{\"domain\":{\"ed25519:1\":\"" + signature + "\"}}}");
        var checkedCount = 0;
        for (var i = 0; i < payload.Length - 1; i++)
        {
            for (var bit = 0; bit < 8; bit++)
            {
                // The tampered payload with the original signature spliced in before its closing brace.
                var tampered = payload[..^1].Concat(signatures).ToArray();
                tampered[i] ^= (byte)(1 << bit);
                JsonDocument document;
                try
                {
                    document = JsonDocument.Parse(tampered);
                }
                catch (JsonException)
                {
                    continue; // not JSON any more: cannot even be presented for verification
                }

                using (document)
                {
                    if (document.RootElement.ValueKind != JsonValueKind.Object)
                    {
                        continue;
                    }

                    JsonSigning.Verify(document.RootElement, "domain", "ed25519:1", key.PublicKey)
                        .Should().NotBe(SignatureVerification.Valid, $"byte {i} bit {bit} was flipped");
                    checkedCount++;
                }
            }
        }

        checkedCount.Should().BeGreaterThan(100, "most single-bit changes still parse");
    }

    public static TheoryData<string> Tampered => new()
    {
        "{\"one\":2,\"two\":\"Two\"}",
        "{\"one\":1,\"two\":\"two\"}",
        "{\"one\":1,\"Two\":\"Two\"}",
        "{\"one\":1}",
        "{\"one\":1,\"two\":\"Two\",\"three\":3}",
        "{\"one\":\"1\",\"two\":\"Two\"}",
        "{\"one\":[1],\"two\":\"Two\"}",
    };

    [Theory]
    [MemberData(nameof(Tampered))]
    public void Changing_a_value_or_a_key_fails_verification(string tampered)
    {
        var obj = JsonNode.Parse(tampered)!.AsObject();
        obj["signatures"] = new JsonObject { ["domain"] = new JsonObject { ["ed25519:1"] = DataObjectSignature } };
        JsonSigning.Verify(Parse(obj.ToJsonString()), "domain", "ed25519:1", UnpaddedBase64.Decode(SpecPublicKeyBase64))
            .Should().Be(SignatureVerification.BadSignature);
    }

    [Theory]
    [InlineData("{\"one\":1}", "domain", "ed25519:1", SignatureVerification.MissingSignature)]
    [InlineData("{\"one\":1,\"signatures\":{}}", "domain", "ed25519:1", SignatureVerification.MissingSignature)]
    [InlineData("{\"one\":1,\"signatures\":[]}", "domain", "ed25519:1", SignatureVerification.MissingSignature)]
    [InlineData("{\"one\":1,\"signatures\":{\"domain\":{}}}", "domain", "ed25519:1", SignatureVerification.MissingSignature)]
    [InlineData("{\"one\":1,\"signatures\":{\"other\":{\"ed25519:1\":\"" + DataObjectSignature + "\"}}}", "domain", "ed25519:1", SignatureVerification.MissingSignature)]
    [InlineData("{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:1\":\"not base64!\"}}}", "domain", "ed25519:1", SignatureVerification.MalformedSignature)]
    [InlineData("{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:1\":\"AAAA\"}}}", "domain", "ed25519:1", SignatureVerification.MalformedSignature)]
    [InlineData("{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:1\":12}}}", "domain", "ed25519:1", SignatureVerification.MalformedSignature)]
    [InlineData("{\"one\":1,\"signatures\":{\"domain\":{\"rsa:1\":\"AAAA\"}}}", "domain", "rsa:1", SignatureVerification.UnsupportedAlgorithm)]
    [InlineData("{\"one\":1.5,\"signatures\":{\"domain\":{\"ed25519:1\":\"" + DataObjectSignature + "\"}}}", "domain", "ed25519:1", SignatureVerification.InvalidJson)]
    [InlineData("[1]", "domain", "ed25519:1", SignatureVerification.InvalidJson)]
    public void Verification_reports_why_it_failed(string json, string entity, string keyId, SignatureVerification expected) =>
        JsonSigning.Verify(Parse(json), entity, keyId, UnpaddedBase64.Decode(SpecPublicKeyBase64)).Should().Be(expected);

    [Fact]
    public void Padded_and_escaped_signatures_are_accepted()
    {
        var publicKey = UnpaddedBase64.Decode(SpecPublicKeyBase64);
        var padded = Parse("{\"one\":1,\"two\":\"Two\",\"signatures\":{\"domain\":{\"ed25519:1\":\"" + DataObjectSignature + "==\"}}}");
        JsonSigning.Verify(padded, "domain", "ed25519:1", publicKey).Should().Be(SignatureVerification.Valid);

        var escaped = Parse("{\"one\":1,\"two\":\"Two\",\"signatures\":{\"domain\":{\"ed25519:1\":\"\\u004Bqm" + DataObjectSignature[3..] + "\"}}}");
        JsonSigning.Verify(escaped, "domain", "ed25519:1", publicKey).Should().Be(SignatureVerification.Valid);
    }

    [Fact]
    public void A_public_key_of_the_wrong_length_is_reported()
    {
        var signed = Parse("{\"one\":1,\"two\":\"Two\",\"signatures\":{\"domain\":{\"ed25519:1\":\"" + DataObjectSignature + "\"}}}");
        JsonSigning.Verify(signed, "domain", "ed25519:1", new byte[31]).Should().Be(SignatureVerification.InvalidPublicKey);
    }
}
