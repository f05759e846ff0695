namespace Homeserver.Core.Configuration;

/// <summary>
/// The validated configuration of one homeserver instance, loaded from <c>homeserver.yaml</c>
/// (key names follow Synapse's where the concept is the same). Built only by the Host's loader,
/// which checks every value; the rest of the server can trust it.
/// </summary>
public sealed record HomeserverConfig
{
    public required string ServerName { get; init; }

    /// <summary>The URL clients use to reach us, always ending with '/'.</summary>
    public required Uri PublicBaseUrl { get; init; }

    /// <summary>The folder for the embedded database, media and keys (defaults to the config file's folder).</summary>
    public required string DataDirectory { get; init; }

    public required IReadOnlyList<ListenerConfig> Listeners { get; init; }

    /// <summary>An Npgsql connection string, or null to use the embedded PostgreSQL cluster.</summary>
    public string? DatabaseConnectionString { get; init; }

    public required string SigningKeyPath { get; init; }

    public IReadOnlyList<OldSigningKey> OldSigningKeys { get; init; } = [];

    /// <summary>How long our published server keys stay valid (Synapse's key_refresh_interval).</summary>
    public TimeSpan KeyRefreshInterval { get; init; } = TimeSpan.FromDays(1);

    public IReadOnlyList<TrustedKeyServer> TrustedKeyServers { get; init; } = [];

    public bool EnableRegistration { get; init; }

    public string? RegistrationSharedSecret { get; init; }

    public bool RegistrationRequiresToken { get; init; }

    public bool AllowGuestAccess { get; init; }

    /// <summary>Accounts, sessions and profiles (refresh tokens, login tokens, TURN, user directory...).</summary>
    public AccountsConfig Accounts { get; init; } = new();

    public required string MediaStorePath { get; init; }

    public long MaxUploadSize { get; init; } = 50L * 1024 * 1024;

    public MediaConfig Media { get; init; } = new();

    public PushConfig Push { get; init; } = new();

    public RateLimits RateLimits { get; init; } = new();

    /// <summary>Null means federation with every server; otherwise only these server names.</summary>
    public IReadOnlyList<string>? FederationDomainWhitelist { get; init; }

    public IReadOnlyList<string> FederationCustomCaList { get; init; } = [];

    public bool FederationVerifyCertificates { get; init; } = true;

    /// <summary>Extra CA certificates (PEM files) trusted by the other outbound HTTPS clients: push gateways, URL previews.</summary>
    public IReadOnlyList<string> OutboundHttpCustomCaList { get; init; } = [];

    /// <summary>Outbound requests to these CIDR ranges are refused (SSRF protection); empty in test setups.</summary>
    public IReadOnlyList<string> IpRangeBlacklist { get; init; } = [];

    public string? TlsCertificatePath { get; init; }

    public string? TlsPrivateKeyPath { get; init; }

    public string DefaultRoomVersion { get; init; } = "12";

    public PasswordHashingConfig PasswordHashing { get; init; } = new();

    public LoggingConfig Logging { get; init; } = new();

    /// <summary>Public room directory readable without an access token (Synapse: allow_public_rooms_without_auth).</summary>
    public bool AllowPublicRoomsWithoutAuth { get; init; }

    public bool AllowPublicRoomsOverFederation { get; init; }

    /// <summary>Where the <c>/.well-known/matrix/server</c> answer points, if we serve one.</summary>
    public string? ServeServerWellKnown { get; init; }

    /// <summary>
    /// Refuse uploaded device keys (and signed one-time keys) that their device's own ed25519 key did not sign.
    /// On by default; Synapse does not check, so test suites that upload placeholder keys turn it off.
    /// </summary>
    public bool RequireSelfSignedDeviceKeys { get; init; } = true;

    /// <summary>
    /// Give other servers our users' device display names (key queries, device lists). Off by default, as Synapse's
    /// option of the same name: a device name often says more than its owner would tell a stranger.
    /// </summary>
    public bool AllowDeviceNameLookupOverFederation { get; init; }

    /// <summary>Where config-relative paths were resolved from (the config file's folder).</summary>
    public required string ConfigDirectory { get; init; }
}

public sealed record ListenerConfig
{
    public required int Port { get; init; }

    public required IReadOnlyList<string> BindAddresses { get; init; }

    public bool Tls { get; init; }

    /// <summary>Which APIs this listener serves: client, federation, media, keys.</summary>
    public required IReadOnlySet<string> Resources { get; init; }

    public bool XForwarded { get; init; }
}

public sealed record OldSigningKey(string KeyId, string PublicKeyBase64, long ExpiredTs);

public sealed record TrustedKeyServer(string ServerName, IReadOnlyDictionary<string, string> VerifyKeys);

/// <summary>A token bucket: refills <see cref="PerSecond"/> tokens per second up to <see cref="BurstCount"/>.</summary>
public sealed record RateLimit(double PerSecond, double BurstCount);

public sealed record RateLimits
{
    /// <summary>False turns every limiter off (test suites).</summary>
    public bool Enabled { get; init; } = true;

    public RateLimit Message { get; init; } = new(0.2, 10);

    public RateLimit Registration { get; init; } = new(0.17, 3);

    public RateLimit LoginAddress { get; init; } = new(0.003, 5);

    public RateLimit LoginAccount { get; init; } = new(0.003, 5);

    public RateLimit LoginFailedAttempts { get; init; } = new(0.17, 3);

    public RateLimit Joins { get; init; } = new(0.1, 10);

    public RateLimit RegistrationTokenValidity { get; init; } = new(0.1, 5);
}

/// <summary>Argon2id parameters (NSec/libsodium: parallelism is always 1).</summary>
public sealed record PasswordHashingConfig
{
    public int MemoryKib { get; init; } = 64 * 1024;

    public int Iterations { get; init; } = 3;
}

public sealed record LoggingConfig
{
    /// <summary>trace, debug, info, warning, error.</summary>
    public string Level { get; init; } = "info";

    /// <summary>text or json (one JSON object per line).</summary>
    public string Format { get; init; } = "text";
}

/// <summary>Settings of accounts, sessions and the small account modules (Synapse's key names in brackets).</summary>
public sealed record AccountsConfig
{
    /// <summary>Lifetime of an access token issued with a refresh token (refreshable_access_token_lifetime); null: no refresh tokens.</summary>
    public TimeSpan? RefreshableAccessTokenLifetime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Lifetime of a refresh token (refresh_token_lifetime); null: refresh tokens do not expire.</summary>
    public TimeSpan? RefreshTokenLifetime { get; init; }

    /// <summary>Logged-in clients may ask for m.login.token tokens for new devices (login_via_existing_session.enabled).</summary>
    public bool LoginViaExistingSession { get; init; }

    /// <summary>How long an m.login.token token is valid (login_via_existing_session.token_timeout).</summary>
    public TimeSpan LoginTokenTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public bool EnableSetDisplayName { get; init; } = true;

    public bool EnableSetAvatarUrl { get; init; } = true;

    /// <summary>Users may add and remove third-party identifiers (enable_3pid_changes).</summary>
    public bool Enable3pidChanges { get; init; } = true;

    /// <summary>User directory search is served (user_directory.enabled).</summary>
    public bool UserDirectoryEnabled { get; init; } = true;

    /// <summary>Search every local user, not only those sharing a room with the searcher (user_directory.search_all_users).</summary>
    public bool UserDirectorySearchAllUsers { get; init; }

    public TurnConfig Turn { get; init; } = new();
}

/// <summary>TURN servers handed to VoIP clients (turn_uris, turn_shared_secret, turn_username, turn_password, turn_user_lifetime, turn_allow_guests).</summary>
public sealed record TurnConfig
{
    public IReadOnlyList<string> Uris { get; init; } = [];

    /// <summary>Secret shared with the TURN server (coturn's static-auth-secret) for time-limited credentials.</summary>
    public string? SharedSecret { get; init; }

    /// <summary>Fixed credentials, used when no shared secret is set.</summary>
    public string? Username { get; init; }

    public string? Password { get; init; }

    public TimeSpan UserLifetime { get; init; } = TimeSpan.FromHours(1);

    public bool AllowGuests { get; init; } = true;
}
