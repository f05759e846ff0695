using System.Text;
using System.Text.Json;

namespace Homeserver.Crypto.Tests;

/// <summary>The spec's test key and small JSON helpers shared by the tests.</summary>
internal static class TestSupport
{
    /// <summary>Appendices, "Cryptographic Test Vectors", "Signing Key": SERVER_NAME "domain", KEY_ID "ed25519:1".</summary>
    public const string SpecSeedBase64 = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";

    /// <summary>The public key of the spec's seed, from Vectors/generate_vectors.py (Python cryptography's Ed25519).</summary>
    public const string SpecPublicKeyBase64 = "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI";

    public static Ed25519SigningKey SpecKey() => Ed25519SigningKey.FromSeed(UnpaddedBase64.Decode(SpecSeedBase64), "ed25519:1");

    public static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    public static JsonElement Parse(byte[] utf8)
    {
        using var document = JsonDocument.Parse(utf8);
        return document.RootElement.Clone();
    }

    public static string Canonical(string json, CanonicalJsonMode mode = CanonicalJsonMode.Strict) =>
        Encoding.UTF8.GetString(CanonicalJson.Encode(Parse(json), mode));

    public static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>Two JSON texts hold the same value (compared through their canonical forms).</summary>
    public static void ShouldBeSameJson(this byte[] actual, string expected) =>
        Canonical(Utf8(actual), CanonicalJsonMode.Legacy).Should().Be(Canonical(expected, CanonicalJsonMode.Legacy));
}
