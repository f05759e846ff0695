using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Homeserver.Core.Configuration;
using NSec.Cryptography;

namespace Homeserver.Users;

/// <summary>
/// Argon2id password hashes (libsodium through NSec), stored in the PHC string format
/// <c>$argon2id$v=19$m=&lt;KiB&gt;,t=&lt;passes&gt;,p=1$&lt;salt&gt;$&lt;hash&gt;</c>, so that the parameters travel with
/// each hash and can be raised later without invalidating old passwords.
/// </summary>
public sealed class PasswordHasher(PasswordHashingConfig config)
{
    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    /// <summary>Hashes off the request thread: Argon2id is deliberately slow and memory-hard.</summary>
    public Task<string> HashAsync(string password) => Task.Run(() => Hash(password, config.MemoryKib, config.Iterations));

    public Task<bool> VerifyAsync(string password, string stored) => Task.Run(() => Verify(password, stored));

    internal static string Hash(string password, int memoryKib, int passes)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Derive(password, salt, memoryKib, passes);
        return string.Create(CultureInfo.InvariantCulture,
            $"$argon2id$v=19$m={memoryKib},t={passes},p=1${Convert.ToBase64String(salt).TrimEnd('=')}${Convert.ToBase64String(hash).TrimEnd('=')}");
    }

    internal static bool Verify(string password, string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 6 || parts[1] != "argon2id" || parts[2] != "v=19")
        {
            return false;
        }

        int memory = 0, passes = 0;
        foreach (var p in parts[3].Split(','))
        {
            var kv = p.Split('=');
            if (kv.Length != 2 || !int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out var v))
            {
                return false;
            }

            switch (kv[0])
            {
                case "m": memory = v; break;
                case "t": passes = v; break;
                case "p" when v != 1: return false;
            }
        }

        if (memory < 8 || passes < 1)
        {
            return false;
        }

        byte[] salt, expected;
        try
        {
            salt = Convert.FromBase64String(Pad(parts[4]));
            expected = Convert.FromBase64String(Pad(parts[5]));
        }
        catch (FormatException)
        {
            return false;
        }

        if (salt.Length != SaltBytes)
        {
            return false;
        }

        var actual = Derive(password, salt, memory, passes, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private static byte[] Derive(string password, byte[] salt, int memoryKib, int passes, int length = HashBytes)
    {
        var algorithm = PasswordBasedKeyDerivationAlgorithm.Argon2id(new Argon2Parameters
        {
            DegreeOfParallelism = 1,
            MemorySize = memoryKib,
            NumberOfPasses = passes,
        });
        return algorithm.DeriveBytes(Encoding.UTF8.GetBytes(password), salt, length);
    }

    private static string Pad(string s) => s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '=');
}
