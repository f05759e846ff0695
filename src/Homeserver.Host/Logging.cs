using Homeserver.Core.Configuration;
using Microsoft.Extensions.Logging.Console;

namespace Homeserver.Host;

/// <summary>Structured console logging: one line per entry, as text or as JSON objects.</summary>
internal static class Logging
{
    public static void Configure(ILoggingBuilder logging, LoggingConfig config)
    {
        var level = config.Level switch
        {
            "trace" => LogLevel.Trace,
            "debug" => LogLevel.Debug,
            "warning" => LogLevel.Warning,
            "error" => LogLevel.Error,
            _ => LogLevel.Information,
        };
        logging.SetMinimumLevel(level);

        // ASP.NET's per-request lines are noise at info level; warnings still show.
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        if (config.Format == "json")
        {
            logging.AddJsonConsole(o =>
            {
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
            });
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff ";
                o.UseUtcTimestamp = true;
                o.ColorBehavior = LoggerColorBehavior.Disabled;
            });
        }
    }
}
