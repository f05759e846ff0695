using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Homeserver.Core;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation.Client;

/// <summary>Where and how to reach a server: the Host header, the TLS name to verify, and the addresses to try.</summary>
public sealed record ResolvedServer(string HostHeader, string TlsHostname, IReadOnlyList<DnsEndPoint> Targets);

/// <summary>DNS as discovery needs it, behind an interface so that tests can answer it.</summary>
public interface IFederationDns
{
    /// <summary>SRV targets for a service name (e.g. <c>_matrix-fed._tcp.example.org</c>), best first; empty if none.</summary>
    Task<IReadOnlyList<DnsEndPoint>> ResolveSrvAsync(string serviceName, CancellationToken ct);
}

/// <summary>Fetches <c>https://host/.well-known/matrix/server</c>; null on any error (invalid responses count as errors).</summary>
public interface IWellKnownFetcher
{
    Task<(string? Delegated, TimeSpan CacheFor)> FetchAsync(string hostname, CancellationToken ct);
}

/// <summary>
/// Resolves server names to connection targets, following the server-server API's "Resolving server names"
/// steps exactly: IP literals, explicit ports, <c>.well-known</c> delegation (cached), SRV
/// (<c>_matrix-fed._tcp</c>, then the deprecated <c>_matrix._tcp</c>) and the default port 8448.
/// </summary>
public sealed partial class ServerDiscovery(IFederationDns dns, IWellKnownFetcher wellKnown, TimeProvider time, ILogger<ServerDiscovery> logger)
{
    public const int DefaultPort = 8448;
    private readonly ConcurrentDictionary<string, (ResolvedServer Server, DateTimeOffset Expires)> _cache = new(StringComparer.Ordinal);

    public async Task<ResolvedServer> ResolveAsync(string serverName, CancellationToken ct)
    {
        if (_cache.TryGetValue(serverName, out var cached) && cached.Expires > time.GetUtcNow())
        {
            return cached.Server;
        }

        var (server, cacheFor) = await ResolveUncachedAsync(serverName, ct);
        _cache[serverName] = (server, time.GetUtcNow() + cacheFor);
        return server;
    }

    private async Task<(ResolvedServer, TimeSpan)> ResolveUncachedAsync(string serverName, CancellationToken ct)
    {
        if (!ServerName.IsValid(serverName))
        {
            throw new FederationException($"'{serverName}' is not a valid server name");
        }

        var (host, port) = ServerName.Split(serverName);

        // 1. IP literal: that address, the given port or 8448.
        if (IPAddress.TryParse(host, out _))
        {
            return (new ResolvedServer(serverName, host, [new DnsEndPoint(host, port ?? DefaultPort)]), TimeSpan.FromHours(24));
        }

        // 2. A hostname with an explicit port: resolve it directly.
        if (port is { } p)
        {
            return (new ResolvedServer(serverName, host, [new DnsEndPoint(host, p)]), TimeSpan.FromHours(24));
        }

        // 3. .well-known delegation.
        var (delegated, cacheFor) = await wellKnown.FetchAsync(host, ct);
        if (delegated is not null && ServerName.IsValid(delegated))
        {
            var (dHost, dPort) = ServerName.Split(delegated);
            LogDelegated(serverName, delegated);
            if (IPAddress.TryParse(dHost, out _))
            {
                return (new ResolvedServer(delegated, dHost, [new DnsEndPoint(dHost, dPort ?? DefaultPort)]), cacheFor);
            }

            if (dPort is { } dp)
            {
                return (new ResolvedServer(delegated, dHost, [new DnsEndPoint(dHost, dp)]), cacheFor);
            }

            var delegatedSrv = await SrvAsync(dHost, ct);
            return (new ResolvedServer(dHost, dHost, delegatedSrv.Count > 0 ? delegatedSrv : [new DnsEndPoint(dHost, DefaultPort)]), cacheFor);
        }

        // 4-6. No delegation: SRV for the hostname itself, else port 8448.
        var srv = await SrvAsync(host, ct);
        return (new ResolvedServer(host, host, srv.Count > 0 ? srv : [new DnsEndPoint(host, DefaultPort)]), cacheFor);
    }

    private async Task<IReadOnlyList<DnsEndPoint>> SrvAsync(string host, CancellationToken ct)
    {
        var targets = await dns.ResolveSrvAsync("_matrix-fed._tcp." + host, ct);
        return targets.Count > 0 ? targets : await dns.ResolveSrvAsync("_matrix._tcp." + host, ct);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{ServerName} delegates federation to {Delegated}")]
    private partial void LogDelegated(string serverName, string delegated);
}

/// <summary>A federation request failed (unreachable, refused, invalid answer).</summary>
public sealed class FederationException(string message, int? statusCode = null, string? errcode = null, Exception? inner = null, JsonElement? errorBody = null)
    : Exception(message, inner)
{
    public int? StatusCode { get; } = statusCode;

    public string? ErrCode { get; } = errcode;

    /// <summary>The remote server's error answer, when it was a JSON object.</summary>
    public JsonElement? ErrorBody { get; } = errorBody;

    /// <summary>
    /// The remote server does not know the endpoint (a 404 or 405 without an errcode or with M_UNRECOGNIZED, or the
    /// 400 M_UNRECOGNIZED of older Synapses): the caller may fall back to an older version of it, as Synapse does.
    /// </summary>
    public bool IsUnknownEndpoint =>
        (StatusCode is 404 or 405 && (ErrCode is null || ErrCode == MatrixErrorCode.Unrecognized))
        || (StatusCode == 400 && ErrCode == MatrixErrorCode.Unrecognized);

    /// <summary>
    /// The remote server's error as ours, for a client whose request it refused: its status, errcode, message and
    /// extra fields (such as <c>room_version</c> of M_INCOMPATIBLE_ROOM_VERSION), as Synapse passes them through.
    /// </summary>
    public MatrixException ToMatrixException()
    {
        var extra = new Dictionary<string, object?>(StringComparer.Ordinal);
        string? message = null;
        if (ErrorBody is { ValueKind: JsonValueKind.Object } body)
        {
            foreach (var property in body.EnumerateObject())
            {
                if (property.NameEquals("error") && property.Value.ValueKind == JsonValueKind.String)
                {
                    message = property.Value.GetString();
                }
                else if (!property.NameEquals("errcode"))
                {
                    extra[property.Name] = property.Value.Clone();
                }
            }
        }

        return new MatrixException(ErrCode ?? MatrixErrorCode.Unknown, StatusCode ?? 502, message ?? Message, extra.Count > 0 ? extra : null);
    }
}

/// <summary>SRV lookups through the system's resolvers (DnsClient).</summary>
public sealed class SystemFederationDns : IFederationDns
{
    private readonly DnsClient.LookupClient _client = new(new DnsClient.LookupClientOptions { UseCache = true, Timeout = TimeSpan.FromSeconds(5), Retries = 1 });

    public async Task<IReadOnlyList<DnsEndPoint>> ResolveSrvAsync(string serviceName, CancellationToken ct)
    {
        try
        {
            var answer = await _client.QueryAsync(serviceName, DnsClient.QueryType.SRV, cancellationToken: ct);
            return answer.Answers.SrvRecords()
                .OrderBy(r => r.Priority)
                .ThenByDescending(r => r.Weight)
                .Select(r => new DnsEndPoint(r.Target.Value.TrimEnd('.'), r.Port))
                .ToList();
        }
        catch (DnsClient.DnsResponseException)
        {
            return [];
        }
    }
}

/// <summary>Parses a <c>.well-known/matrix/server</c> body: <c>{"m.server": "host[:port]"}</c>.</summary>
public static class WellKnownParser
{
    public static string? Parse(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var doc = JsonDocument.ParseValue(ref reader);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("m.server", out var v)
                && v.ValueKind == JsonValueKind.String
                && ServerName.IsValid(v.GetString())
                ? v.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
