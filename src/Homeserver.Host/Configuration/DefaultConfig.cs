using System.Security.Cryptography;

namespace Homeserver.Host.Configuration;

/// <summary>The <c>homeserver.yaml</c> written on the first run when none exists.</summary>
internal static class DefaultConfig
{
    public static string Generate()
    {
        // 32 random bytes: the registration shared secret lets admin tools create users (Synapse-compatible API).
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return $"""
            # Written on the first run. See homeserver.yaml.example in the source tree for every key.
            server_name: localhost
            public_baseurl: http://127.0.0.1:8008/
            listeners:
              - port: 8008
                bind_addresses: ['127.0.0.1']
                tls: false
                resources:
                  - names: [client, federation, media]
            # Empty: use a private PostgreSQL cluster under this folder.
            database: ""
            signing_key_path: localhost.signing.key
            enable_registration: false
            registration_shared_secret: "{secret}"
            media_store_path: media_store
            """;
    }
}
