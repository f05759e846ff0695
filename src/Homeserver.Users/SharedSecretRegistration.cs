using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Homeserver.Core;

namespace Homeserver.Users;

/// <summary>
/// Synapse-compatible shared-secret registration (<c>/_synapse/admin/v1/register</c>), which admin tools
/// and test suites use: a one-use nonce, then a request whose <c>mac</c> is the hex HMAC-SHA1, keyed with
/// <c>registration_shared_secret</c>, of <c>nonce \0 username \0 password \0 ("admin" | "notadmin")</c>.
/// </summary>
public sealed class SharedSecretRegistration(TimeProvider time)
{
    private static readonly TimeSpan NonceLifetime = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, long> _nonces = new(StringComparer.Ordinal);

    public string NewNonce()
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var (n, created) in _nonces)
        {
            if (now - created > NonceLifetime.TotalMilliseconds)
            {
                _nonces.TryRemove(n, out _);
            }
        }

        var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        _nonces[nonce] = now;
        return nonce;
    }

    /// <summary>Checks and consumes the nonce and checks the MAC; throws 400/403 as Synapse does.</summary>
    public void Verify(string secret, string nonce, string username, string password, bool admin, string mac)
    {
        if (!_nonces.TryRemove(nonce, out var created) || time.GetUtcNow().ToUnixTimeMilliseconds() - created > NonceLifetime.TotalMilliseconds)
        {
            throw new MatrixException(MatrixErrorCode.Unknown, 400, "unrecognised nonce");
        }

        var expected = ComputeMac(secret, nonce, username, password, admin);
        byte[] given;
        try
        {
            given = Convert.FromHexString(mac);
        }
        catch (FormatException)
        {
            throw MatrixException.Forbidden("HMAC incorrect");
        }

        if (!CryptographicOperations.FixedTimeEquals(expected, given))
        {
            throw MatrixException.Forbidden("HMAC incorrect");
        }
    }

    public static byte[] ComputeMac(string secret, string nonce, string username, string password, bool admin)
    {
        var message = Encoding.UTF8.GetBytes($"{nonce}\0{username}\0{password}\0{(admin ? "admin" : "notadmin")}");
#pragma warning disable CA5350 // HMAC-SHA1 is what the Synapse API specifies; the secret, not SHA-1 collisions, protects it.
        return HMACSHA1.HashData(Encoding.UTF8.GetBytes(secret), message);
#pragma warning restore CA5350
    }

}
