using NSec.Cryptography;

namespace Homeserver.Crypto;

/// <summary>Ed25519 verification (https://spec.matrix.org/v1.19/appendices/#signing-details: "ed25519 as implemented by NACL").</summary>
public static class Ed25519
{
    /// <summary>Public key length in bytes.</summary>
    public const int PublicKeyLength = 32;

    /// <summary>
    /// True if <paramref name="signature"/> is a valid signature of <paramref name="data"/> by <paramref name="publicKey"/>.
    /// False, never an exception, for keys or signatures of the wrong length or keys that are not curve points.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != PublicKeyLength || signature.Length != Ed25519SigningKey.SignatureLength)
        {
            return false;
        }

        if (!PublicKey.TryImport(SignatureAlgorithm.Ed25519, publicKey, KeyBlobFormat.RawPublicKey, out var key) || key is null)
        {
            return false;
        }

        return SignatureAlgorithm.Ed25519.Verify(key, data, signature);
    }
}
