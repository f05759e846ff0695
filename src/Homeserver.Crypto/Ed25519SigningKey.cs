using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace Homeserver.Crypto;

/// <summary>
/// A server's Ed25519 signing key with its key ID (<c>ed25519:&lt;version&gt;</c>).
/// Spec: https://spec.matrix.org/v1.19/appendices/#signing-details (the algorithm) and
/// https://spec.matrix.org/v1.19/server-server-api/#publishing-keys (key IDs: the version is <c>[a-zA-Z0-9_]+</c>).
/// </summary>
/// <remarks>
/// The 32-byte seed is the secret; it is kept by libsodium (through NSec) and leaves only through
/// <see cref="ToSigningKeyFileLine"/>, never through <see cref="ToString"/>. The file format is Synapse's
/// <c>signing.key</c>: one key per line, <c>ed25519 &lt;version&gt; &lt;unpadded base64 seed&gt;</c>.
/// </remarks>
public sealed class Ed25519SigningKey : IDisposable
{
    /// <summary>The algorithm part of the key ID.</summary>
    public const string Algorithm = "ed25519";

    /// <summary>Seed length in bytes.</summary>
    public const int SeedLength = 32;

    /// <summary>Signature length in bytes.</summary>
    public const int SignatureLength = 64;

    private readonly Key _key;
    private readonly byte[] _publicKey;

    private Ed25519SigningKey(Key key, string version)
    {
        _key = key;
        Version = version;
        KeyId = Algorithm + ":" + version;
        _publicKey = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        PublicKeyBase64 = UnpaddedBase64.Encode(_publicKey);
    }

    /// <summary>The key ID, for example <c>ed25519:a_AbC</c>.</summary>
    public string KeyId { get; }

    /// <summary>The part of the key ID after <c>ed25519:</c>.</summary>
    public string Version { get; }

    /// <summary>The 32-byte public key.</summary>
    public ReadOnlySpan<byte> PublicKey => _publicKey;

    /// <summary>The public key in unpadded Base64, as published in <c>/_matrix/key/v2/server</c>.</summary>
    public string PublicKeyBase64 { get; }

    /// <summary>A key from its 32-byte seed and its key ID (<c>ed25519:&lt;version&gt;</c>).</summary>
    /// <exception cref="ArgumentException">The seed is not 32 bytes or the key ID is malformed.</exception>
    public static Ed25519SigningKey FromSeed(ReadOnlySpan<byte> seed, string keyId)
    {
        ArgumentNullException.ThrowIfNull(keyId);
        if (!keyId.StartsWith(Algorithm + ":", StringComparison.Ordinal) || !IsValidVersion(keyId.AsSpan(Algorithm.Length + 1)))
        {
            throw new ArgumentException("The key ID must be \"ed25519:\" followed by one or more of [a-zA-Z0-9_].", nameof(keyId));
        }

        return Create(seed, keyId[(Algorithm.Length + 1)..]);
    }

    /// <summary>A new key with a random seed.</summary>
    /// <exception cref="ArgumentException">The version is not <c>[a-zA-Z0-9_]+</c>.</exception>
    public static Ed25519SigningKey Generate(string version)
    {
        ArgumentNullException.ThrowIfNull(version);
        ValidateVersion(version);
        Span<byte> seed = stackalloc byte[SeedLength];
        RandomNumberGenerator.Fill(seed);
        try
        {
            return Create(seed, version);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>True for a key version (the part after <c>ed25519:</c>): one or more of <c>[a-zA-Z0-9_]</c>.</summary>
    public static bool IsValidVersion(ReadOnlySpan<char> version)
    {
        if (version.IsEmpty)
        {
            return false;
        }

        foreach (var c in version)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Parses a signing-key file: one <c>ed25519 &lt;version&gt; &lt;seed&gt;</c> per line, fields separated by spaces
    /// or tabs; blank lines are ignored. The first key is the one to sign with.
    /// </summary>
    /// <exception cref="FormatException">A line is malformed (the message names the line, never its content).</exception>
    public static IReadOnlyList<Ed25519SigningKey> ParseSigningKeyFile(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var keys = new List<Ed25519SigningKey>();
        try
        {
            var lineNumber = 0;
            foreach (var rawLine in text.AsSpan().EnumerateLines())
            {
                lineNumber++;
                var line = rawLine.Trim();
                if (line.IsEmpty)
                {
                    continue;
                }

                keys.Add(ParseLine(line, lineNumber));
            }
        }
        catch
        {
            foreach (var key in keys)
            {
                key.Dispose();
            }

            throw;
        }

        return keys;
    }

    /// <summary>This key as one line of a signing-key file. Contains the secret seed: write it only to the key file.</summary>
    public string ToSigningKeyFileLine()
    {
        var seed = _key.Export(KeyBlobFormat.RawPrivateKey);
        try
        {
            return $"{Algorithm} {Version} {UnpaddedBase64.Encode(seed)}";
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>The 64-byte Ed25519 signature of <paramref name="data"/>.</summary>
    public byte[] Sign(ReadOnlySpan<byte> data)
    {
        var signature = new byte[SignatureLength];
        Sign(data, signature);
        return signature;
    }

    /// <summary>Writes the 64-byte signature of <paramref name="data"/> into <paramref name="signature"/>.</summary>
    public void Sign(ReadOnlySpan<byte> data, Span<byte> signature)
    {
        if (signature.Length != SignatureLength)
        {
            throw new ArgumentException($"The signature buffer must be {SignatureLength} bytes.", nameof(signature));
        }

        SignatureAlgorithm.Ed25519.Sign(_key, data, signature);
    }

    /// <summary>The unpadded Base64 signature of <paramref name="data"/>, as it appears in <c>signatures</c>.</summary>
    public string SignToBase64(ReadOnlySpan<byte> data)
    {
        Span<byte> signature = stackalloc byte[SignatureLength];
        Sign(data, signature);
        return UnpaddedBase64.Encode(signature);
    }

    /// <summary>The key ID and public key; never the seed.</summary>
    public override string ToString() => $"{KeyId} (public key {PublicKeyBase64})";

    public void Dispose() => _key.Dispose();

    private static Ed25519SigningKey Create(ReadOnlySpan<byte> seed, string version)
    {
        if (seed.Length != SeedLength)
        {
            throw new ArgumentException($"An Ed25519 seed is {SeedLength} bytes.", nameof(seed));
        }

        var key = Key.Import(
            SignatureAlgorithm.Ed25519,
            seed,
            KeyBlobFormat.RawPrivateKey,
            new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        return new Ed25519SigningKey(key, version);
    }

    private static void ValidateVersion(string version)
    {
        if (!IsValidVersion(version))
        {
            throw new ArgumentException("A key version is one or more of [a-zA-Z0-9_].", nameof(version));
        }
    }

    private static Ed25519SigningKey ParseLine(ReadOnlySpan<char> line, int lineNumber)
    {
        Span<Range> fields = stackalloc Range[4];
        var count = SplitOnBlanks(line, fields);
        if (count != 3)
        {
            throw new FormatException($"Signing key line {lineNumber}: expected \"ed25519 <version> <base64 seed>\".");
        }

        if (!line[fields[0]].SequenceEqual(Algorithm))
        {
            throw new FormatException($"Signing key line {lineNumber}: unsupported algorithm (only ed25519 is supported).");
        }

        var version = line[fields[1]];
        if (!IsValidVersion(version))
        {
            throw new FormatException($"Signing key line {lineNumber}: the key version must be one or more of [a-zA-Z0-9_].");
        }

        Span<byte> seed = stackalloc byte[UnpaddedBase64.GetMaxDecodedLength(64)];
        var seedText = line[fields[2]];
        if (seedText.Length > 64 || !TryDecodeChars(seedText, seed, out var written) || written != SeedLength)
        {
            throw new FormatException($"Signing key line {lineNumber}: the seed must be 32 bytes of unpadded Base64.");
        }

        try
        {
            return Create(seed[..SeedLength], version.ToString());
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    private static bool TryDecodeChars(ReadOnlySpan<char> text, Span<byte> destination, out int written)
    {
        Span<byte> ascii = stackalloc byte[text.Length];
        try
        {
            if (Encoding.ASCII.GetBytes(text, ascii) != text.Length || text.ContainsAnyExceptInRange((char)0x21, (char)0x7E))
            {
                written = 0;
                return false;
            }

            return UnpaddedBase64.TryDecodeUtf8(ascii, destination, out written);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ascii);
        }
    }

    private static int SplitOnBlanks(ReadOnlySpan<char> line, Span<Range> fields)
    {
        var count = 0;
        var i = 0;
        while (i < line.Length)
        {
            while (i < line.Length && line[i] is ' ' or '\t')
            {
                i++;
            }

            if (i == line.Length)
            {
                break;
            }

            var start = i;
            while (i < line.Length && line[i] is not (' ' or '\t'))
            {
                i++;
            }

            if (count == fields.Length)
            {
                return count + 1;
            }

            fields[count++] = start..i;
        }

        return count;
    }
}
