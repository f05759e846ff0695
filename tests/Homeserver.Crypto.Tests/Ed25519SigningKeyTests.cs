using System.Text;
using static Homeserver.Crypto.Tests.TestSupport;

namespace Homeserver.Crypto.Tests;

public sealed class Ed25519SigningKeyTests
{
    [Fact]
    public void The_spec_seed_gives_the_public_key_python_computes()
    {
        using var key = SpecKey();
        key.KeyId.Should().Be("ed25519:1");
        key.Version.Should().Be("1");
        key.PublicKeyBase64.Should().Be(SpecPublicKeyBase64);
        key.PublicKey.ToArray().Should().Equal(UnpaddedBase64.Decode(SpecPublicKeyBase64));
    }

    [Fact]
    public void Signing_then_verifying_succeeds()
    {
        using var key = Ed25519SigningKey.Generate("a_B9");
        var data = Encoding.UTF8.GetBytes("hello");
        var signature = key.Sign(data);
        signature.Should().HaveCount(64);
        Ed25519.Verify(key.PublicKey, data, signature).Should().BeTrue();
        key.SignToBase64(data).Should().Be(UnpaddedBase64.Encode(signature), "Ed25519 signatures are deterministic");
    }

    [Fact]
    public void Verifying_fails_for_other_data_other_keys_and_malformed_inputs()
    {
        using var key = Ed25519SigningKey.Generate("1");
        using var other = Ed25519SigningKey.Generate("2");
        var data = Encoding.UTF8.GetBytes("hello");
        var signature = key.Sign(data);

        Ed25519.Verify(key.PublicKey, Encoding.UTF8.GetBytes("hellp"), signature).Should().BeFalse();
        Ed25519.Verify(other.PublicKey, data, signature).Should().BeFalse();
        Ed25519.Verify(key.PublicKey[..31], data, signature).Should().BeFalse();
        Ed25519.Verify(key.PublicKey, data, signature.AsSpan(0, 63)).Should().BeFalse();
        Ed25519.Verify(new byte[32], data, signature).Should().BeFalse();
        var flipped = (byte[])signature.Clone();
        flipped[10] ^= 1;
        Ed25519.Verify(key.PublicKey, data, flipped).Should().BeFalse();
    }

    [Fact]
    public void Generated_keys_are_random()
    {
        using var a = Ed25519SigningKey.Generate("x");
        using var b = Ed25519SigningKey.Generate("x");
        a.PublicKeyBase64.Should().NotBe(b.PublicKeyBase64);
    }

    [Theory]
    [InlineData("ed25519")]
    [InlineData("ed25519:")]
    [InlineData("ed25519:a-b")]
    [InlineData("ed25519:a b")]
    [InlineData("curve25519:1")]
    [InlineData("1")]
    public void Malformed_key_ids_are_rejected(string keyId)
    {
        var act = () => Ed25519SigningKey.FromSeed(new byte[32], keyId);
        act.Should().Throw<ArgumentException>();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(64)]
    public void Seeds_must_be_32_bytes(int length)
    {
        var act = () => Ed25519SigningKey.FromSeed(new byte[length], "ed25519:1");
        act.Should().Throw<ArgumentException>().WithMessage("*32 bytes*");
    }

    [Fact]
    public void The_signing_key_file_line_round_trips_in_synapse_format()
    {
        using var key = SpecKey();
        var line = key.ToSigningKeyFileLine();

        // The spec's seed text ends in "XA1", whose last character has non-zero padding bits; decoders ignore them
        // (Python's included), and the canonical encoding of the same 32 bytes ends in "XA0".
        line.Should().Be("ed25519 1 " + SpecSeedBase64[..^1] + "0");

        var parsed = Ed25519SigningKey.ParseSigningKeyFile(line);
        parsed.Should().ContainSingle();
        using var again = parsed[0];
        again.KeyId.Should().Be("ed25519:1");
        again.PublicKeyBase64.Should().Be(key.PublicKeyBase64);
    }

    [Fact]
    public void A_signing_key_file_may_hold_several_keys_blank_lines_crlf_and_tabs()
    {
        using var first = Ed25519SigningKey.Generate("old_1");
        using var second = Ed25519SigningKey.Generate("new2");
        var text = "\n  \r\n" + first.ToSigningKeyFileLine() + "\r\n\r\n" + second.ToSigningKeyFileLine().Replace(' ', '\t') + "  \n\n";

        var keys = Ed25519SigningKey.ParseSigningKeyFile(text);
        try
        {
            keys.Select(k => k.KeyId).Should().Equal("ed25519:old_1", "ed25519:new2");
            keys.Select(k => k.PublicKeyBase64).Should().Equal(first.PublicKeyBase64, second.PublicKeyBase64);
        }
        finally
        {
            foreach (var k in keys)
            {
                k.Dispose();
            }
        }
    }

    [Fact]
    public void An_empty_signing_key_file_has_no_keys() =>
        Ed25519SigningKey.ParseSigningKeyFile("\n \n").Should().BeEmpty();

    [Theory]
    [InlineData("ed25519 1")]
    [InlineData("ed25519 1 " + SpecSeedBase64 + " extra")]
    [InlineData("rsa 1 " + SpecSeedBase64)]
    [InlineData("ed25519 a:b " + SpecSeedBase64)]
    [InlineData("ed25519 1 " + SpecSeedBase64 + "AA")]
    [InlineData("ed25519 1 not*base64")]
    [InlineData("ed25519 1 YJDBA9Xnr2sVqXD9")]
    public void Malformed_signing_key_lines_are_rejected_without_echoing_the_secret(string line)
    {
        var act = () => Ed25519SigningKey.ParseSigningKeyFile("\n" + line);
        var error = act.Should().Throw<FormatException>().Which;
        error.Message.Should().Contain("line 2");
        error.Message.Should().NotContain("YJDBA9Xnr2sVqXD9");
    }

    [Fact]
    public void The_seed_never_appears_in_to_string()
    {
        using var key = SpecKey();
        key.ToString().Should().Contain("ed25519:1").And.Contain(SpecPublicKeyBase64).And.NotContain(SpecSeedBase64[..10]);
    }

    [Fact]
    public void A_disposed_key_cannot_sign()
    {
        var key = Ed25519SigningKey.Generate("1");
        key.Dispose();
        var act = () => key.Sign([1, 2, 3]);
        act.Should().Throw<ObjectDisposedException>();
    }
}
