using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Homeserver.Host.Configuration;

/// <summary>
/// Typed, validated reads from the flattened configuration. Every failure names the key and the
/// reason (a <see cref="ConfigException"/>); nothing falls back to a default when a value is present but invalid.
/// </summary>
internal sealed class ConfigReader(IConfiguration config)
{
    public IConfiguration Raw => config;

    public bool Has(string key) => config[key] is not null || config.GetSection(key).GetChildren().Any();

    public string? String(string key)
    {
        var v = config[key];
        return string.IsNullOrEmpty(v) ? null : v;
    }

    public string RequiredString(string key) => String(key) ?? throw new ConfigException(key, "is required");

    public bool Bool(string key, bool fallback)
    {
        var v = config[key];
        if (v is null)
        {
            return fallback;
        }

        return v.Trim().ToLowerInvariant() switch
        {
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            _ => throw new ConfigException(key, $"must be true or false, not '{v}'"),
        };
    }

    public int Int(string key, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var v = config[key];
        if (v is null)
        {
            return fallback;
        }

        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n))
        {
            throw new ConfigException(key, $"must be a whole number, not '{v}'");
        }

        if (n < min || n > max)
        {
            throw new ConfigException(key, $"must be between {min} and {max}, not {n}");
        }

        return n;
    }

    public double Double(string key, double fallback, double min = 0)
    {
        var v = config[key];
        if (v is null)
        {
            return fallback;
        }

        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || double.IsNaN(n) || double.IsInfinity(n))
        {
            throw new ConfigException(key, $"must be a number, not '{v}'");
        }

        if (n < min)
        {
            throw new ConfigException(key, $"must be at least {min}, not {n}");
        }

        return n;
    }

    /// <summary>A duration as Synapse writes them: a number of milliseconds, or a number with ms, s, m, h, d, w or y.</summary>
    public TimeSpan Duration(string key, TimeSpan fallback)
    {
        var v = config[key];
        if (v is null)
        {
            return fallback;
        }

        return ParseDuration(v) ?? throw new ConfigException(key, $"must be a duration such as 500ms, 30s, 10m, 12h, 1d or 1w, not '{v}'");
    }

    /// <summary>A size as Synapse writes them: a number of bytes, or a number with K, M, G or T (powers of 1024).</summary>
    public long Size(string key, long fallback)
    {
        var v = config[key];
        if (v is null)
        {
            return fallback;
        }

        return ParseSize(v) ?? throw new ConfigException(key, $"must be a size such as 50M, 1G or a number of bytes, not '{v}'");
    }

    /// <summary>A list of strings, or null when the key is absent. An empty list (<c>[]</c>) is an empty list.</summary>
    public List<string>? StringList(string key)
    {
        var section = config.GetSection(key);
        var children = section.GetChildren().ToList();
        if (children.Count == 0)
        {
            if (section.Value is null)
            {
                return null;
            }

            if (section.Value.Length == 0)
            {
                return [];
            }

            throw new ConfigException(key, "must be a list");
        }

        var list = new List<string>(children.Count);
        foreach (var child in children.OrderBy(c => IndexOf(c.Key)))
        {
            if (child.Value is null)
            {
                throw new ConfigException(child.Path, "must be a string");
            }

            list.Add(child.Value);
        }

        return list;
    }

    /// <summary>The items of a list of mappings, in order.</summary>
    public IEnumerable<IConfigurationSection> Items(string key) =>
        config.GetSection(key).GetChildren().OrderBy(c => IndexOf(c.Key));

    internal static TimeSpan? ParseDuration(string v)
    {
        v = v.Trim();
        var units = new (string Suffix, double Ms)[]
        {
            ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000), ("y", 31_536_000_000),
        };
        foreach (var (suffix, ms) in units)
        {
            if (v.EndsWith(suffix, StringComparison.Ordinal) && double.TryParse(v[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= 0)
            {
                return TimeSpan.FromMilliseconds(n * ms);
            }
        }

        return long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var plain) ? TimeSpan.FromMilliseconds(plain) : null;
    }

    internal static long? ParseSize(string v)
    {
        v = v.Trim();
        if (v.Length == 0)
        {
            return null;
        }

        long multiplier = char.ToUpperInvariant(v[^1]) switch
        {
            'K' => 1024L,
            'M' => 1024L * 1024,
            'G' => 1024L * 1024 * 1024,
            'T' => 1024L * 1024 * 1024 * 1024,
            _ => 1,
        };
        var number = multiplier == 1 ? v : v[..^1];
        return long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 0 ? checked(n * multiplier) : null;
    }

    private static int IndexOf(string key) => int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : int.MaxValue;
}
