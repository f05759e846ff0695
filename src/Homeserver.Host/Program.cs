using System.Net.Sockets;
using Homeserver.Host;
using Homeserver.Host.Configuration;
using Homeserver.Host.Database;
using Homeserver.Storage;
using Microsoft.AspNetCore.Connections;
using Npgsql;

// The command line: `Homeserver [--config PATH] [--data-dir DIR]`.
// Exit codes: 0 clean shutdown, 1 usage, 2 configuration, 3 database, 4 listener.
return await Cli.RunAsync(args);

namespace Homeserver.Host
{
    internal static partial class Cli
    {
        public static async Task<int> RunAsync(string[] args)
        {
            if (args.Length > 0 && args[0] == "register-user")
            {
                return await RegisterUserCommand.RunAsync(args[1..]);
            }

            string? configPath = null;
            string? dataDir = null;
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
                    case "run":
                        break;
                    case "-h" or "--help":
                        Console.WriteLine("usage: Homeserver [--config PATH] [--data-dir DIR]");
                        Console.WriteLine("       Homeserver register-user (--config PATH | --data-dir DIR) --user NAME [--password P] [--admin]");
                        Console.WriteLine("  --config PATH   use this homeserver.yaml as it is");
                        Console.WriteLine("  --data-dir DIR  use DIR/homeserver.yaml, writing a default one on the first run (default: current folder)");
                        return 0;
                    default:
                        Console.Error.WriteLine($"error: unknown argument '{args[i]}' (try --help)");
                        return 1;
                }
            }

            using var shutdown = new CancellationTokenSource();
            var firstRun = false;
            try
            {
                if (configPath is null)
                {
                    dataDir = Path.GetFullPath(dataDir ?? ".");
                    configPath = Path.Combine(dataDir, "homeserver.yaml");
                    if (!File.Exists(configPath))
                    {
                        Directory.CreateDirectory(dataDir);
                        await File.WriteAllTextAsync(configPath, DefaultConfig.Generate());
                        firstRun = true;
                    }
                }
                else if (!File.Exists(configPath))
                {
                    throw new ConfigException("--config", $"{configPath} does not exist");
                }

                var (config, warnings) = ConfigLoader.Load(configPath);
                using var loggerFactory = LoggerFactory.Create(b => Logging.Configure(b, config.Logging));
                var log = loggerFactory.CreateLogger("Homeserver");
                foreach (var w in warnings)
                {
                    LogConfigWarning(log, w);
                }

                LogStarting(log, config.ServerName, configPath);
                var (signingKey, keyCreated) = SigningKeyFile.LoadOrCreate(config.SigningKeyPath);
                if (keyCreated)
                {
                    LogKeyCreated(log, signingKey.KeyId, config.SigningKeyPath);
                }

                EmbeddedPostgres? embedded = null;
                var connectionString = config.DatabaseConnectionString;
                if (connectionString is null)
                {
                    embedded = await EmbeddedPostgres.StartAsync(Path.Combine(config.DataDirectory, "postgres"), log, shutdown.Token);
                    connectionString = embedded.ConnectionString;
                }

                await using var embeddedScope = embedded;
                var app = HomeserverApp.Build(config, connectionString, signingKey);
                await using var appScope = app;
                await HomeserverApp.PrepareAsync(app, shutdown.Token);
                await app.StartAsync(shutdown.Token);
                foreach (var listener in config.Listeners)
                {
                    LogListening(log, string.Join(", ", listener.BindAddresses), listener.Port, listener.Tls ? "https" : "http", string.Join(", ", listener.Resources.Order()));
                }

                if (firstRun)
                {
                    Console.WriteLine($"First run: wrote {configPath}. Create the first user with:");
                    Console.WriteLine($"  Homeserver register-user --config {configPath} --user alice --admin");
                }

                await app.WaitForShutdownAsync();
                return 0;
            }
            catch (ConfigException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            catch (SchemaTooNewException e)
            {
                Console.Error.WriteLine($"error: database: {e.Message}");
                return 3;
            }
            catch (EmbeddedPostgresException e)
            {
                Console.Error.WriteLine($"error: embedded PostgreSQL: {e.Message}");
                return 3;
            }
            catch (Exception e) when (e is NpgsqlException or SocketException || e.InnerException is NpgsqlException or SocketException)
            {
                Console.Error.WriteLine($"error: cannot use the database: {(e as NpgsqlException ?? e.InnerException ?? e).Message}");
                return 3;
            }
            catch (IOException e) when (e.InnerException is AddressInUseException)
            {
                Console.Error.WriteLine($"error: cannot listen: {e.Message}");
                return 4;
            }
            catch (IOException e) when (e.InnerException is SocketException se && se.SocketErrorCode is SocketError.AccessDenied or SocketError.AddressNotAvailable)
            {
                Console.Error.WriteLine($"error: cannot listen: {e.Message}");
                return 4;
            }
        }

        [LoggerMessage(Level = LogLevel.Warning, Message = "Configuration: {Warning}")]
        private static partial void LogConfigWarning(ILogger logger, string warning);

        [LoggerMessage(Level = LogLevel.Information, Message = "Starting homeserver {ServerName} with {ConfigPath}")]
        private static partial void LogStarting(ILogger logger, string serverName, string configPath);

        [LoggerMessage(Level = LogLevel.Information, Message = "Created signing key {KeyId} in {Path}")]
        private static partial void LogKeyCreated(ILogger logger, string keyId, string path);

        [LoggerMessage(Level = LogLevel.Information, Message = "Listening on {Addresses} port {Port} ({Scheme}: {Resources})")]
        private static partial void LogListening(ILogger logger, string addresses, int port, string scheme, string resources);
    }
}
