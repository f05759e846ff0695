using Homeserver.Host.Configuration;

namespace Homeserver.Host.Tests;

public sealed class ConfigLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hs-config-").FullName;

    private const string Minimal = """
        server_name: example.org
        listeners:
          - port: 8008
            resources:
              - names: [client, federation]
        """;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string yaml)
    {
        var path = Path.Combine(_dir, "homeserver.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public void The_shipped_example_loads_without_errors_or_unknown_keys()
    {
        var example = Path.Combine(AppContext.BaseDirectory, "homeserver.yaml.example");
        var (config, warnings) = ConfigLoader.Load(example, new Dictionary<string, string?>());
        warnings.Should().BeEmpty();
        config.ServerName.Should().Be("example.org");
        config.PublicBaseUrl.Should().Be(new Uri("https://matrix.example.org/"));
        config.DatabaseConnectionString.Should().BeNull();
        config.Listeners.Should().ContainSingle().Which.Resources.Should().Contain(["client", "federation", "media", "keys"]);
        config.MaxUploadSize.Should().Be(50L * 1024 * 1024);
        config.KeyRefreshInterval.Should().Be(TimeSpan.FromDays(1));
        config.TrustedKeyServers.Should().BeEmpty();
        config.FederationDomainWhitelist.Should().BeNull();
    }

    [Fact]
    public void Defaults_apply_to_absent_keys_and_paths_resolve_against_the_config_folder()
    {
        var (config, _) = ConfigLoader.Load(Write(Minimal), new Dictionary<string, string?>());
        config.PublicBaseUrl.Should().Be(new Uri("https://example.org/"));
        config.SigningKeyPath.Should().Be(Path.Combine(_dir, "example.org.signing.key"));
        config.MediaStorePath.Should().Be(Path.Combine(_dir, "media_store"));
        config.Listeners[0].BindAddresses.Should().Equal("127.0.0.1");
        config.EnableRegistration.Should().BeFalse();
        config.DefaultRoomVersion.Should().Be("12");
        config.IpRangeBlacklist.Should().Contain("127.0.0.0/8");
    }

    [Fact]
    public void Environment_variables_override_nested_keys()
    {
        var env = new Dictionary<string, string?>
        {
            ["HS__server_name"] = "other.example",
            ["HS__listeners__0__port"] = "9009",
            ["HS__rc_message__per_second"] = "3.5",
            ["UNRELATED"] = "x",
        };
        var (config, _) = ConfigLoader.Load(Write(Minimal), env);
        config.ServerName.Should().Be("other.example");
        config.Listeners[0].Port.Should().Be(9009);
        config.RateLimits.Message.PerSecond.Should().Be(3.5);
    }

    [Fact]
    public void Account_settings_have_synapses_defaults_and_read_their_keys()
    {
        var (defaults, _) = ConfigLoader.Load(Write(Minimal), new Dictionary<string, string?>());
        defaults.Accounts.RefreshableAccessTokenLifetime.Should().Be(TimeSpan.FromMinutes(5));
        defaults.Accounts.RefreshTokenLifetime.Should().BeNull();
        defaults.Accounts.LoginViaExistingSession.Should().BeFalse();
        defaults.Accounts.Enable3pidChanges.Should().BeTrue();
        defaults.Accounts.UserDirectorySearchAllUsers.Should().BeFalse();
        defaults.Accounts.Turn.Uris.Should().BeEmpty();
        defaults.Accounts.Turn.UserLifetime.Should().Be(TimeSpan.FromHours(1));

        var (config, warnings) = ConfigLoader.Load(Write(Minimal + """

            refreshable_access_token_lifetime: "off"
            refresh_token_lifetime: 30d
            login_via_existing_session: {enabled: true, token_timeout: 2m}
            enable_set_displayname: false
            enable_3pid_changes: false
            user_directory: {search_all_users: true}
            turn_uris: ["turn:turn.example.org"]
            turn_shared_secret: s3cret
            turn_user_lifetime: 2h
            turn_allow_guests: false
            rc_registration_token_validity: {per_second: 1, burst_count: 2}
            """), new Dictionary<string, string?>());
        warnings.Should().BeEmpty();
        config.Accounts.RefreshableAccessTokenLifetime.Should().BeNull();
        config.Accounts.RefreshTokenLifetime.Should().Be(TimeSpan.FromDays(30));
        config.Accounts.LoginViaExistingSession.Should().BeTrue();
        config.Accounts.LoginTokenTimeout.Should().Be(TimeSpan.FromMinutes(2));
        config.Accounts.EnableSetDisplayName.Should().BeFalse();
        config.Accounts.Enable3pidChanges.Should().BeFalse();
        config.Accounts.UserDirectorySearchAllUsers.Should().BeTrue();
        config.Accounts.Turn.Uris.Should().Equal("turn:turn.example.org");
        config.Accounts.Turn.SharedSecret.Should().Be("s3cret");
        config.Accounts.Turn.UserLifetime.Should().Be(TimeSpan.FromHours(2));
        config.Accounts.Turn.AllowGuests.Should().BeFalse();
        config.RateLimits.RegistrationTokenValidity.Should().Be(new Homeserver.Core.Configuration.RateLimit(1, 2));
    }

    [Fact]
    public void An_explicitly_empty_whitelist_means_federation_with_nobody()
    {
        var (config, _) = ConfigLoader.Load(Write(Minimal + "\nfederation_domain_whitelist: []\n"), new Dictionary<string, string?>());
        config.FederationDomainWhitelist.Should().NotBeNull().And.BeEmpty();
    }

    [Fact]
    public void Unknown_keys_are_reported_as_warnings()
    {
        var (_, warnings) = ConfigLoader.Load(Write(Minimal + "\nenable_registraton: true\n"), new Dictionary<string, string?>());
        warnings.Should().ContainSingle().Which.Should().Contain("enable_registraton");
    }

    public static TheoryData<string, string> InvalidValues => new()
    {
        { "server_name: 'bad name'", "server_name" },
        { "server_name: example.org:99999", "server_name" },
        { "public_baseurl: ftp://x/", "public_baseurl" },
        { "enable_registration: perhaps", "enable_registration" },
        { "max_upload_size: lots", "max_upload_size" },
        { "key_refresh_interval: soon", "key_refresh_interval" },
        { "key_refresh_interval: 1s", "key_refresh_interval" },
        { "default_room_version: '99'", "default_room_version" },
        { "federation_domain_whitelist: ['bad name']", "federation_domain_whitelist" },
        { "ip_range_blacklist: ['10.0.0.0/99']", "ip_range_blacklist" },
        { "database: 'Host=x;NoSuchKeyword=1'", "database" },
        { "logging: {level: loud}", "logging:level" },
        { "rc_message: {per_second: -1}", "rc_message:per_second" },
        { "password_hashing: {iterations: 0}", "password_hashing:iterations" },
        { "federation_custom_ca_list: [/nonexistent/ca.pem]", "federation_custom_ca_list" },
        { "outbound_http_custom_ca_list: [/nonexistent/ca.pem]", "outbound_http_custom_ca_list" },
        { "refreshable_access_token_lifetime: soon", "refreshable_access_token_lifetime" },
        { "refreshable_access_token_lifetime: 10ms", "refreshable_access_token_lifetime" },
        { "login_via_existing_session: {enabled: maybe}", "login_via_existing_session:enabled" },
        { "turn_uris: ['http://turn.example.org']", "turn_uris" },
        { "turn_user_lifetime: forever", "turn_user_lifetime" },
        { "user_directory: {search_all_users: 2}", "user_directory:search_all_users" },
    };

    [Theory]
    [MemberData(nameof(InvalidValues))]
    public void An_invalid_value_is_an_error_naming_its_key(string line, string key)
    {
        var yaml = Minimal.Replace("server_name: example.org", line.StartsWith("server_name", StringComparison.Ordinal) ? line : "server_name: example.org\n" + line, StringComparison.Ordinal);
        var act = () => ConfigLoader.Load(Write(yaml), new Dictionary<string, string?>());
        act.Should().Throw<ConfigException>().Which.Key.Should().Be(key);
    }

    public static TheoryData<string, string> InvalidListeners => new()
    {
        { "listeners: []", "listeners" },
        { "listeners: [{port: 0, resources: [{names: [client]}]}]", "listeners:0:port" },
        { "listeners: [{port: 70000, resources: [{names: [client]}]}]", "listeners:0:port" },
        { "listeners: [{port: 8008, resources: [{names: [cliant]}]}]", "listeners:0:resources:0" },
        { "listeners: [{port: 8008, resources: []}]", "listeners:0:resources" },
        { "listeners: [{port: 8008, bind_addresses: ['not-an-ip'], resources: [{names: [client]}]}]", "listeners:0:bind_addresses" },
        { "listeners: [{port: 8008, tls: true, resources: [{names: [client]}]}]", "tls_certificate_path" },
        { "listeners: [{port: 8008, type: metrics, resources: [{names: [client]}]}]", "listeners:0:type" },
    };

    [Theory]
    [MemberData(nameof(InvalidListeners))]
    public void An_invalid_listener_is_an_error_naming_its_key(string listeners, string key)
    {
        var act = () => ConfigLoader.Load(Write("server_name: example.org\n" + listeners + "\n"), new Dictionary<string, string?>());
        act.Should().Throw<ConfigException>().Which.Key.Should().Be(key);
    }

    [Fact]
    public void A_file_that_is_not_yaml_is_an_error()
    {
        var act = () => ConfigLoader.Load(Write("server_name: [unclosed\n"), new Dictionary<string, string?>());
        act.Should().Throw<ConfigException>().WithMessage("*not valid YAML*");
    }

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("30s", 30_000)]
    [InlineData("10m", 600_000)]
    [InlineData("1d", 86_400_000)]
    [InlineData("1w", 604_800_000)]
    [InlineData("1500", 1500)]
    public void Durations_use_synapse_units(string text, long ms) =>
        ConfigReader.ParseDuration(text).Should().Be(TimeSpan.FromMilliseconds(ms));

    [Theory]
    [InlineData("1024", 1024L)]
    [InlineData("10K", 10L * 1024)]
    [InlineData("50M", 50L * 1024 * 1024)]
    [InlineData("1G", 1024L * 1024 * 1024)]
    public void Sizes_use_binary_multiples(string text, long bytes) =>
        ConfigReader.ParseSize(text).Should().Be(bytes);
}
