using System.Net.Sockets;
using System.Text;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Host.Configuration;
using Homeserver.Host.Database;
using Homeserver.Storage;
using Homeserver.Users;
using Npgsql;

namespace Homeserver.Host;

/// <summary>
/// <c>Homeserver register-user --config PATH --user NAME [--password P] [--admin]</c>: creates an account directly in
/// the database, like Synapse's <c>register_new_matrix_user</c> (which goes through the shared-secret API instead:
/// this works whether or not the server runs, and needs no secret). Without <c>--password</c> the password is asked
/// for twice on the terminal without echo, or read from one line of standard input when that is not a terminal.
/// Exit codes: 0 created, 1 usage or refused (invalid or taken name), 2 configuration, 3 database.
/// </summary>
internal static class RegisterUserCommand
{
    private const string Usage = "usage: Homeserver register-user (--config PATH | --data-dir DIR) --user NAME [--password P] [--admin]";

    public static async Task<int> RunAsync(string[] args)
    {
        string? configPath = null, dataDir = null, user = null, password = null;
        var admin = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--config" when i + 1 < args.Length:
                    configPath = args[++i];
                    break;
                case "--data-dir" when i + 1 < args.Length:
                    dataDir = args[++i];
                    break;
                case "--user" or "-u" when i + 1 < args.Length:
                    user = args[++i];
                    break;
                case "--password" or "-p" when i + 1 < args.Length:
                    password = args[++i];
                    break;
                case "--admin" or "-a":
                    admin = true;
                    break;
                case "-h" or "--help":
                    Console.WriteLine(Usage);
                    return 0;
                default:
                    Console.Error.WriteLine($"error: unknown argument '{args[i]}'");
                    Console.Error.WriteLine(Usage);
                    return 1;
            }
        }

        configPath ??= dataDir is null ? null : Path.Combine(Path.GetFullPath(dataDir), "homeserver.yaml");
        if (configPath is null || user is null)
        {
            Console.Error.WriteLine(Usage);
            return 1;
        }

        try
        {
            if (!File.Exists(configPath))
            {
                throw new ConfigException("--config", $"{configPath} does not exist (run the server once to create it)");
            }

            var (config, _) = ConfigLoader.Load(configPath);
            password ??= ReadPassword();
            if (password is null)
            {
                return 1;
            }

            using var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole(o => o.SingleLine = true));
            EmbeddedPostgres? embedded = null;
            var connectionString = config.DatabaseConnectionString;
            if (connectionString is null)
            {
                embedded = await EmbeddedPostgres.StartAsync(Path.Combine(config.DataDirectory, "postgres"), loggerFactory.CreateLogger("Homeserver"), CancellationToken.None);
                connectionString = embedded.ConnectionString;
            }

            try
            {
                var services = new ServiceCollection();
                services.AddSingleton(loggerFactory);
                services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
                services.AddSingleton(config);
                services.AddSingleton(TimeProvider.System);
                services.AddStorage(connectionString);
                services.AddSingleton(new StreamPositions());
                services.AddAccountServices(config);
                await using var provider = services.BuildServiceProvider();
                await provider.GetRequiredService<MigrationRunner>().MigrateAsync(CancellationToken.None);
                var accounts = provider.GetRequiredService<AccountService>();
                var userId = await accounts.CreateAccountAsync(accounts.NormaliseLocalpart(user), password, admin, false, null, CancellationToken.None);
                Console.WriteLine($"Created {(admin ? "admin " : string.Empty)}user {userId}");
                return 0;
            }
            finally
            {
                // A cluster the running server uses stays up; one started for this command stops again.
                if (embedded is { WasAlreadyRunning: false })
                {
                    await embedded.DisposeAsync();
                }
            }
        }
        catch (MatrixException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is EmbeddedPostgresException or SchemaTooNewException or NpgsqlException or SocketException || e.InnerException is NpgsqlException or SocketException)
        {
            Console.Error.WriteLine($"error: cannot use the database: {(e.InnerException as NpgsqlException ?? e).Message}");
            return 3;
        }
    }

    /// <summary>The password from the terminal (asked twice, not echoed) or from one line of redirected standard input.</summary>
    private static string? ReadPassword()
    {
        if (Console.IsInputRedirected)
        {
            var line = Console.In.ReadLine();
            if (string.IsNullOrEmpty(line))
            {
                Console.Error.WriteLine("error: no password on standard input");
                return null;
            }

            return line;
        }

        var first = Prompt("Password: ");
        if (first.Length == 0)
        {
            Console.Error.WriteLine("error: the password must not be empty");
            return null;
        }

        if (Prompt("Confirm password: ") != first)
        {
            Console.Error.WriteLine("error: the passwords do not match");
            return null;
        }

        return first;
    }

    private static string Prompt(string label)
    {
        Console.Write(label);
        var text = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                Console.WriteLine();
                return text.ToString();
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (text.Length > 0)
                {
                    text.Length--;
                }
            }
            else if (!char.IsControl(key.KeyChar))
            {
                text.Append(key.KeyChar);
            }
        }
    }
}
