namespace Homeserver.Host.Configuration;

/// <summary>An invalid configuration value: the server prints <see cref="Exception.Message"/> as one line and exits.</summary>
public sealed class ConfigException(string key, string reason)
    : Exception($"configuration error: {key}: {reason}")
{
    public string Key { get; } = key;
}
