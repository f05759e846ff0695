using System.Globalization;
using System.Net;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Microsoft.Extensions.Configuration;

namespace Homeserver.Host.Configuration;

/// <summary>
/// Loads <c>homeserver.yaml</c>, applies <c>HS__section__key</c> environment overrides and validates
/// every key into a <see cref="HomeserverConfig"/>. See <c>homeserver.yaml.example</c> for each key.
/// </summary>
internal static partial class ConfigLoader
{
    public const string EnvironmentPrefix = "HS__";

    /// <summary>Every top-level key we understand; others are reported as warnings (a typo should be visible).</summary>
    public static readonly IReadOnlySet<string> KnownKeys = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "server_name", "public_baseurl", "data_directory", "listeners", "database", "signing_key_path", "old_signing_keys",
        "key_refresh_interval", "trusted_key_servers", "enable_registration", "registration_shared_secret",
        "registration_requires_token", "allow_guest_access", "media_store_path", "max_upload_size", "rc_enabled", "rc_message",
        "rc_registration", "rc_login", "rc_joins", "federation_domain_whitelist", "federation_custom_ca_list", "outbound_http_custom_ca_list",
        "federation_verify_certificates", "ip_range_blacklist", "tls_certificate_path", "tls_private_key_path",
        "default_room_version", "password_hashing", "logging", "allow_public_rooms_without_auth",
        "allow_public_rooms_over_federation", "serve_server_wellknown", "e2e_require_self_signed_device_keys",
        "allow_device_name_lookup_over_federation",
        "refreshable_access_token_lifetime", "refresh_token_lifetime", "login_via_existing_session", "enable_set_displayname",
        "enable_set_avatar_url", "enable_3pid_changes", "user_directory", "turn_uris", "turn_shared_secret", "turn_username",
        "turn_password", "turn_user_lifetime", "turn_allow_guests", "rc_registration_token_validity",
        "max_image_pixels", "dynamic_thumbnails", "thumbnail_sizes", "enable_authenticated_media", "max_pending_media_uploads",
        "unused_expiration_time", "media_upload_limits", "media_retention", "url_preview_enabled", "url_preview_ip_range_blacklist",
        "url_preview_ip_range_whitelist", "max_spider_size", "push",
    };

    public static (HomeserverConfig Config, IReadOnlyList<string> Warnings) Load(string path, IDictionary<string, string?>? environment = null)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException("--config", $"cannot read {path}: {e.Message}");
        }

        var flat = YamlFlattener.Flatten(text, path);
        var builder = new ConfigurationBuilder().AddInMemoryCollection(flat);
        if (environment is null)
        {
            builder.AddEnvironmentVariables(EnvironmentPrefix);
        }
        else
        {
            // Tests pass the environment explicitly; map HS__a__b to a:b as the .NET provider does.
            builder.AddInMemoryCollection(environment
                .Where(kv => kv.Key.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
                .Select(kv => new KeyValuePair<string, string?>(kv.Key[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), kv.Value)));
        }

        var configDir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        return Build(new ConfigReader(builder.Build()), configDir);
    }

    internal static (HomeserverConfig Config, IReadOnlyList<string> Warnings) Build(ConfigReader r, string configDir)
    {
        var warnings = new List<string>();
        foreach (var section in r.Raw.GetChildren())
        {
            if (!KnownKeys.Contains(section.Key))
            {
                warnings.Add($"unknown configuration key '{section.Key}' is ignored");
            }
        }

        var serverName = r.RequiredString("server_name");
        if (!ServerName.IsValid(serverName))
        {
            throw new ConfigException("server_name", $"'{serverName}' is not a valid server name (hostname or IP literal, optional :port)");
        }

        var dataDir = ResolvePath(r.String("data_directory") ?? ".", configDir);

        var baseUrlText = r.String("public_baseurl") ?? $"https://{serverName}/";
        if (!Uri.TryCreate(baseUrlText, UriKind.Absolute, out var baseUrl) || (baseUrl.Scheme != "http" && baseUrl.Scheme != "https"))
        {
            throw new ConfigException("public_baseurl", $"must be an absolute http or https URL, not '{baseUrlText}'");
        }

        if (!baseUrl.AbsoluteUri.EndsWith('/'))
        {
            baseUrl = new Uri(baseUrl.AbsoluteUri + "/");
        }

        var listeners = ReadListeners(r);
        var tlsCert = r.String("tls_certificate_path") is { } c ? ResolvePath(c, configDir) : null;
        var tlsKey = r.String("tls_private_key_path") is { } k ? ResolvePath(k, configDir) : null;
        if (listeners.Any(l => l.Tls))
        {
            if (tlsCert is null || tlsKey is null)
            {
                throw new ConfigException(tlsCert is null ? "tls_certificate_path" : "tls_private_key_path", "is required when a listener has tls: true");
            }

            foreach (var (key, file) in new[] { ("tls_certificate_path", tlsCert), ("tls_private_key_path", tlsKey) })
            {
                if (!File.Exists(file))
                {
                    throw new ConfigException(key, $"file {file} does not exist");
                }
            }
        }

        var database = r.String("database");
        if (database is not null)
        {
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(database);
            }
            catch (ArgumentException e)
            {
                throw new ConfigException("database", $"is not a valid connection string: {e.Message}");
            }
        }

        var defaultRoomVersion = r.String("default_room_version") ?? "12";
        if (RoomVersion.Find(defaultRoomVersion) is null)
        {
            throw new ConfigException("default_room_version", $"'{defaultRoomVersion}' is not a room version this server supports (1 to 12)");
        }

        var whitelist = r.StringList("federation_domain_whitelist");
        foreach (var name in whitelist ?? [])
        {
            if (!ServerName.IsValid(name))
            {
                throw new ConfigException("federation_domain_whitelist", $"'{name}' is not a valid server name");
            }
        }

        var caList = ReadCaList(r, "federation_custom_ca_list", configDir);
        var outboundCaList = ReadCaList(r, "outbound_http_custom_ca_list", configDir);

        var blacklist = r.StringList("ip_range_blacklist") ?? DefaultIpRangeBlacklist.ToList();
        foreach (var range in blacklist)
        {
            if (!IPNetwork.TryParse(range, out _))
            {
                throw new ConfigException("ip_range_blacklist", $"'{range}' is not a CIDR range such as 10.0.0.0/8");
            }
        }

        var logLevel = r.String("logging:level") ?? "info";
        if (logLevel is not ("trace" or "debug" or "info" or "warning" or "error"))
        {
            throw new ConfigException("logging:level", $"must be one of trace, debug, info, warning, error, not '{logLevel}'");
        }

        var logFormat = r.String("logging:format") ?? "text";
        if (logFormat is not ("text" or "json"))
        {
            throw new ConfigException("logging:format", $"must be text or json, not '{logFormat}'");
        }

        var config = new HomeserverConfig
        {
            ServerName = serverName,
            PublicBaseUrl = baseUrl,
            DataDirectory = dataDir,
            ConfigDirectory = configDir,
            Listeners = listeners,
            DatabaseConnectionString = database,
            SigningKeyPath = ResolvePath(r.String("signing_key_path") ?? $"{SafeFileName(serverName)}.signing.key", configDir),
            OldSigningKeys = ReadOldSigningKeys(r),
            KeyRefreshInterval = r.Duration("key_refresh_interval", TimeSpan.FromDays(1)),
            TrustedKeyServers = ReadTrustedKeyServers(r),
            EnableRegistration = r.Bool("enable_registration", false),
            RegistrationSharedSecret = r.String("registration_shared_secret"),
            RegistrationRequiresToken = r.Bool("registration_requires_token", false),
            AllowGuestAccess = r.Bool("allow_guest_access", false),
            Accounts = ReadAccounts(r),
            MediaStorePath = ResolvePath(r.String("media_store_path") ?? Path.Combine(dataDir, "media_store"), configDir),
            MaxUploadSize = r.Size("max_upload_size", 50L * 1024 * 1024),
            Media = ReadMedia(r),
            Push = ReadPush(r),
            RateLimits = ReadRateLimits(r),
            FederationDomainWhitelist = whitelist,
            FederationCustomCaList = caList,
            FederationVerifyCertificates = r.Bool("federation_verify_certificates", true),
            OutboundHttpCustomCaList = outboundCaList,
            IpRangeBlacklist = blacklist,
            TlsCertificatePath = tlsCert,
            TlsPrivateKeyPath = tlsKey,
            DefaultRoomVersion = defaultRoomVersion,
            PasswordHashing = new PasswordHashingConfig
            {
                MemoryKib = r.Int("password_hashing:memory_kib", 64 * 1024, 8, 4 * 1024 * 1024),
                Iterations = r.Int("password_hashing:iterations", 3, 1, 100),
            },
            Logging = new LoggingConfig { Level = logLevel, Format = logFormat },
            AllowPublicRoomsWithoutAuth = r.Bool("allow_public_rooms_without_auth", false),
            AllowPublicRoomsOverFederation = r.Bool("allow_public_rooms_over_federation", false),
            ServeServerWellKnown = r.String("serve_server_wellknown"),
            RequireSelfSignedDeviceKeys = r.Bool("e2e_require_self_signed_device_keys", true),
            AllowDeviceNameLookupOverFederation = r.Bool("allow_device_name_lookup_over_federation", false),
        };

        if (config.KeyRefreshInterval < TimeSpan.FromMinutes(1))
        {
            throw new ConfigException("key_refresh_interval", "must be at least 1m");
        }

        return (config, warnings);
    }

    /// <summary>Private, loopback, link-local and other non-public ranges, refused for outbound requests by default (as Synapse does).</summary>
    public static readonly IReadOnlyList<string> DefaultIpRangeBlacklist =
    [
        "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "192.0.0.0/24", "169.254.0.0/16",
        "192.88.99.0/24", "198.18.0.0/15", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "0.0.0.0/8",
        "::1/128", "fe80::/10", "fc00::/7", "2001:db8::/32", "ff00::/8", "fec0::/10", "::/128", "::ffff:0:0/96",
    ];

    private static List<ListenerConfig> ReadListeners(ConfigReader r)
    {
        var items = r.Items("listeners").ToList();
        if (items.Count == 0)
        {
            throw new ConfigException("listeners", "at least one listener is required");
        }

        var result = new List<ListenerConfig>();
        var seen = new HashSet<(string, int)>();
        for (var i = 0; i < items.Count; i++)
        {
            var prefix = $"listeners:{i}";
            var port = r.Int($"{prefix}:port", -1, 1, 65535);
            if (port == -1)
            {
                throw new ConfigException($"{prefix}:port", "is required");
            }

            var type = r.String($"{prefix}:type") ?? "http";
            if (type != "http")
            {
                throw new ConfigException($"{prefix}:type", $"only 'http' listeners are supported, not '{type}'");
            }

            var binds = r.StringList($"{prefix}:bind_addresses") ?? ["127.0.0.1"];
            if (binds.Count == 0)
            {
                throw new ConfigException($"{prefix}:bind_addresses", "must name at least one address");
            }

            foreach (var b in binds)
            {
                if (!IPAddress.TryParse(b, out _) && b != "localhost" && b != "*")
                {
                    throw new ConfigException($"{prefix}:bind_addresses", $"'{b}' is not an IP address, 'localhost' or '*'");
                }

                if (!seen.Add((b, port)))
                {
                    throw new ConfigException($"{prefix}:bind_addresses", $"{b}:{port} is used by two listeners");
                }
            }

            var resources = new HashSet<string>(StringComparer.Ordinal);
            foreach (var res in r.Items($"{prefix}:resources"))
            {
                // Synapse's shape: resources: [{names: [client, federation], compress: false}]; a plain list of names is accepted too.
                var names = res.Value is not null ? [res.Value] : r.StringList($"{res.Path}:names") ?? [];
                foreach (var n in names)
                {
                    if (n is not ("client" or "federation" or "media" or "keys" or "openid" or "health" or "metrics" or "static" or "consent" or "replication" or "well_known" or "admin"))
                    {
                        throw new ConfigException($"{res.Path}", $"unknown resource '{n}'");
                    }

                    resources.Add(n);
                }
            }

            if (resources.Count == 0)
            {
                throw new ConfigException($"{prefix}:resources", "must name at least one resource (client, federation, media, keys)");
            }

            // Federation needs the key endpoints; Synapse serves them with "federation" too.
            if (resources.Contains("federation"))
            {
                resources.Add("keys");
                resources.Add("openid");
            }

            if (resources.Contains("client"))
            {
                resources.Add("well_known");
            }

            result.Add(new ListenerConfig
            {
                Port = port,
                BindAddresses = binds,
                Tls = r.Bool($"{prefix}:tls", false),
                Resources = resources,
                XForwarded = r.Bool($"{prefix}:x_forwarded", false),
            });
        }

        return result;
    }

    private static List<OldSigningKey> ReadOldSigningKeys(ConfigReader r)
    {
        var result = new List<OldSigningKey>();
        foreach (var entry in r.Raw.GetSection("old_signing_keys").GetChildren())
        {
            var key = r.String($"old_signing_keys:{entry.Key}:key") ?? throw new ConfigException($"old_signing_keys:{entry.Key}:key", "is required");
            var expired = r.String($"old_signing_keys:{entry.Key}:expired_ts") ?? throw new ConfigException($"old_signing_keys:{entry.Key}:expired_ts", "is required");
            if (!long.TryParse(expired, NumberStyles.None, CultureInfo.InvariantCulture, out var ts))
            {
                throw new ConfigException($"old_signing_keys:{entry.Key}:expired_ts", "must be a timestamp in milliseconds");
            }

            if (!entry.Key.StartsWith("ed25519:", StringComparison.Ordinal))
            {
                throw new ConfigException($"old_signing_keys:{entry.Key}", "key IDs must start with 'ed25519:'");
            }

            result.Add(new OldSigningKey(entry.Key, key, ts));
        }

        return result;
    }

    private static List<TrustedKeyServer> ReadTrustedKeyServers(ConfigReader r)
    {
        var result = new List<TrustedKeyServer>();
        foreach (var item in r.Items("trusted_key_servers"))
        {
            var name = r.String($"{item.Path}:server_name") ?? throw new ConfigException($"{item.Path}:server_name", "is required");
            if (!ServerName.IsValid(name))
            {
                throw new ConfigException($"{item.Path}:server_name", $"'{name}' is not a valid server name");
            }

            var keys = r.Raw.GetSection($"{item.Path}:verify_keys").GetChildren().ToDictionary(c => c.Key, c => c.Value ?? string.Empty);
            result.Add(new TrustedKeyServer(name, keys));
        }

        return result;
    }

    private static RateLimits ReadRateLimits(ConfigReader r)
    {
        RateLimit Read(string key, RateLimit fallback) => new(
            r.Double($"{key}:per_second", fallback.PerSecond),
            r.Double($"{key}:burst_count", fallback.BurstCount, 1));

        var d = new RateLimits();
        return new RateLimits
        {
            Enabled = r.Bool("rc_enabled", true),
            Message = Read("rc_message", d.Message),
            Registration = Read("rc_registration", d.Registration),
            LoginAddress = Read("rc_login:address", d.LoginAddress),
            LoginAccount = Read("rc_login:account", d.LoginAccount),
            LoginFailedAttempts = Read("rc_login:failed_attempts", d.LoginFailedAttempts),
            Joins = Read("rc_joins:local", d.Joins),
            RegistrationTokenValidity = Read("rc_registration_token_validity", d.RegistrationTokenValidity),
        };
    }

    private static AccountsConfig ReadAccounts(ConfigReader r)
    {
        var d = new AccountsConfig();

        // "off" (or 0) turns refresh tokens off, as a null value does in Synapse.
        TimeSpan? OptionalDuration(string key, TimeSpan? fallback) =>
            r.String(key) is "off" or "none" or "0" ? null : r.Has(key) ? r.Duration(key, TimeSpan.Zero) : fallback;

        var turnUris = r.StringList("turn_uris") ?? [];
        foreach (var uri in turnUris)
        {
            if (!(uri.StartsWith("turn:", StringComparison.Ordinal) || uri.StartsWith("turns:", StringComparison.Ordinal) || uri.StartsWith("stun:", StringComparison.Ordinal)))
            {
                throw new ConfigException("turn_uris", $"'{uri}' is not a turn:, turns: or stun: URI");
            }
        }

        var accounts = new AccountsConfig
        {
            RefreshableAccessTokenLifetime = OptionalDuration("refreshable_access_token_lifetime", d.RefreshableAccessTokenLifetime),
            RefreshTokenLifetime = OptionalDuration("refresh_token_lifetime", d.RefreshTokenLifetime),
            LoginViaExistingSession = r.Bool("login_via_existing_session:enabled", d.LoginViaExistingSession),
            LoginTokenTimeout = r.Duration("login_via_existing_session:token_timeout", d.LoginTokenTimeout),
            EnableSetDisplayName = r.Bool("enable_set_displayname", d.EnableSetDisplayName),
            EnableSetAvatarUrl = r.Bool("enable_set_avatar_url", d.EnableSetAvatarUrl),
            Enable3pidChanges = r.Bool("enable_3pid_changes", d.Enable3pidChanges),
            UserDirectoryEnabled = r.Bool("user_directory:enabled", d.UserDirectoryEnabled),
            UserDirectorySearchAllUsers = r.Bool("user_directory:search_all_users", d.UserDirectorySearchAllUsers),
            Turn = new TurnConfig
            {
                Uris = turnUris,
                SharedSecret = r.String("turn_shared_secret"),
                Username = r.String("turn_username"),
                Password = r.String("turn_password"),
                UserLifetime = r.Duration("turn_user_lifetime", d.Turn.UserLifetime),
                AllowGuests = r.Bool("turn_allow_guests", d.Turn.AllowGuests),
            },
        };

        if (accounts.RefreshableAccessTokenLifetime is { } life && life < TimeSpan.FromSeconds(1))
        {
            throw new ConfigException("refreshable_access_token_lifetime", "must be at least 1s, or off");
        }

        if (accounts.LoginTokenTimeout < TimeSpan.FromSeconds(1))
        {
            throw new ConfigException("login_via_existing_session:token_timeout", "must be at least 1s");
        }

        if (accounts.Turn.UserLifetime < TimeSpan.FromSeconds(1))
        {
            throw new ConfigException("turn_user_lifetime", "must be at least 1s");
        }

        return accounts;
    }

    private static string ResolvePath(string path, string baseDir) => Path.GetFullPath(Path.Combine(baseDir, path));

    /// <summary>A list of CA certificate files (PEM), resolved against the config's folder; each must exist.</summary>
    private static List<string> ReadCaList(ConfigReader r, string key, string configDir)
    {
        var list = (r.StringList(key) ?? []).Select(p => ResolvePath(p, configDir)).ToList();
        foreach (var ca in list)
        {
            if (!File.Exists(ca))
            {
                throw new ConfigException(key, $"file {ca} does not exist");
            }
        }

        return list;
    }

    private static string SafeFileName(string serverName) => serverName.Replace(':', '_').Replace('[', '_').Replace(']', '_');
}
