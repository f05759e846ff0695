using Homeserver.Crypto;

namespace Homeserver.Host;

/// <summary>
/// Loads our Ed25519 signing key from <c>signing_key_path</c> (Synapse's format, so that a Synapse
/// key file can be reused), or creates it with a fresh random key and file mode 0600 on first run.
/// </summary>
internal static class SigningKeyFile
{
    public static (Ed25519SigningKey Key, bool Created) LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            var keys = Ed25519SigningKey.ParseSigningKeyFile(File.ReadAllText(path));
            if (keys.Count == 0)
            {
                throw new Configuration.ConfigException("signing_key_path", $"{path} holds no ed25519 key");
            }

            return (keys[0], false);
        }

        var key = Ed25519SigningKey.Generate("a_" + RandomVersion());
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using (var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        using (var writer = new StreamWriter(stream))
        {
            writer.WriteLine(key.ToSigningKeyFileLine());
        }

        return (key, true);
    }

    private static string RandomVersion()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return string.Create(4, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = alphabet[System.Security.Cryptography.RandomNumberGenerator.GetInt32(alphabet.Length)];
            }
        });
    }
}
