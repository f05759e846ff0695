using System.Security.Cryptography;
using System.Text;
using Homeserver.Crypto;

namespace Homeserver.Users;

/// <summary>
/// Access, refresh, login and OpenID tokens: 32 random bytes, URL-safe, with a short prefix that says what the
/// token is (so a leaked token in a log is recognisable). Only their SHA-256 is stored.
/// </summary>
public static class AccessTokens
{
    public const string AccessPrefix = "mat_";
    public const string RefreshPrefix = "mrt_";
    public const string LoginPrefix = "mlt_";
    public const string OpenIdPrefix = "moi_";

    public static string NewAccessToken() => AccessPrefix + UnpaddedBase64.EncodeUrlSafe(RandomNumberGenerator.GetBytes(32));

    public static string NewRefreshToken() => RefreshPrefix + UnpaddedBase64.EncodeUrlSafe(RandomNumberGenerator.GetBytes(32));

    public static string NewLoginToken() => LoginPrefix + UnpaddedBase64.EncodeUrlSafe(RandomNumberGenerator.GetBytes(32));

    public static string NewOpenIdToken() => OpenIdPrefix + UnpaddedBase64.EncodeUrlSafe(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>A new device ID: 10 upper-case letters, as Synapse makes them.</summary>
    public static string NewDeviceId()
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        Span<char> chars = stackalloc char[10];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)];
        }

        return new string(chars);
    }
}
