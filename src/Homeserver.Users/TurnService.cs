using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;

namespace Homeserver.Users;

/// <summary>
/// TURN credentials for VoIP (client-server spec "Voice over IP"). With <c>turn_shared_secret</c> (coturn's
/// <c>use-auth-secret</c>) the credentials are time-limited: the username is <c>expiry:user_id</c> and the password
/// the standard base64 of HMAC-SHA1(secret, username), as coturn and Synapse compute them. Without a secret, the
/// fixed <c>turn_username</c>/<c>turn_password</c>; with neither, an empty object (no TURN server).
/// </summary>
public sealed class TurnService(HomeserverConfig config, TimeProvider time)
{
    public JsonObject GetCredentials(Requester requester)
    {
        var turn = config.Accounts.Turn;
        if (requester.IsGuest && !turn.AllowGuests)
        {
            throw new MatrixException(MatrixErrorCode.GuestAccessForbidden, 403, "Guest access not allowed");
        }

        string username, password;
        if (turn.Uris.Count > 0 && turn.SharedSecret is not null)
        {
            var expiry = (time.GetUtcNow() + turn.UserLifetime).ToUnixTimeSeconds();
            username = string.Create(CultureInfo.InvariantCulture, $"{expiry}:{requester.UserId}");
            password = Convert.ToBase64String(ComputeMac(turn.SharedSecret, username));
        }
        else if (turn.Uris.Count > 0 && turn.Username is not null && turn.Password is not null)
        {
            username = turn.Username;
            password = turn.Password;
        }
        else
        {
            return [];
        }

        return new JsonObject
        {
            ["username"] = username,
            ["password"] = password,
            ["ttl"] = (long)turn.UserLifetime.TotalSeconds,
            ["uris"] = new JsonArray([.. turn.Uris.Select(u => (JsonNode)JsonValue.Create(u))]),
        };
    }

    public static byte[] ComputeMac(string secret, string username)
    {
#pragma warning disable CA5350 // HMAC-SHA1 is what TURN's REST API (coturn use-auth-secret) specifies.
        return HMACSHA1.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(username));
#pragma warning restore CA5350
    }
}
