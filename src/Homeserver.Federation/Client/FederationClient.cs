using System.Net;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Crypto;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation.Client;

/// <summary>
/// Signed JSON requests to other homeservers, as the key ring, the sender and the E2EE queries use them (an interface so
/// that their rules can be tested without a network).
/// </summary>
public interface IFederationClient
{
    string ServerName { get; }

    /// <summary>Whether a request to <paramref name="destination"/> may be made (not ourselves, allowed by the whitelist).</summary>
    bool MayContact(string destination);

    /// <summary>Sends a signed JSON request and returns the JSON answer; failures and non-2xx answers throw a <see cref="FederationException"/>.</summary>
    Task<JsonElement> SendAsync(HttpMethod method, string destination, string pathAndQuery, JsonElement? body, CancellationToken ct, TimeSpan? timeout = null);

    Task<JsonElement> GetAsync(string destination, string pathAndQuery, CancellationToken ct, TimeSpan? timeout = null) =>
        SendAsync(HttpMethod.Get, destination, pathAndQuery, null, ct, timeout);

    Task<JsonElement> PutAsync(string destination, string pathAndQuery, JsonElement body, CancellationToken ct, TimeSpan? timeout = null) =>
        SendAsync(HttpMethod.Put, destination, pathAndQuery, body, ct, timeout);

    Task<JsonElement> PostAsync(string destination, string pathAndQuery, JsonElement body, CancellationToken ct, TimeSpan? timeout = null) =>
        SendAsync(HttpMethod.Post, destination, pathAndQuery, body, ct, timeout);
}

/// <summary>
/// Signed requests to other homeservers (server-server API, "Request Authentication"): every request carries
/// an <c>X-Matrix</c> Authorization header signed with our key over method, URI, origin, destination and body.
/// Refuses destinations outside <c>federation_domain_whitelist</c> and ourselves.
/// </summary>
public sealed partial class FederationClient(
    HomeserverConfig config,
    ServerKeys keys,
    ServerDiscovery discovery,
    FederationTransport transport,
    ILogger<FederationClient> logger) : IFederationClient
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public string ServerName => config.ServerName;

    public bool MayContact(string destination) =>
        destination != config.ServerName
        && (config.FederationDomainWhitelist is null || config.FederationDomainWhitelist.Contains(destination));

    public Task<JsonElement> GetAsync(string destination, string pathAndQuery, CancellationToken ct, TimeSpan? timeout = null) =>
        SendAsync(HttpMethod.Get, destination, pathAndQuery, null, ct, timeout);

    public Task<JsonElement> PutAsync(string destination, string pathAndQuery, JsonElement body, CancellationToken ct, TimeSpan? timeout = null) =>
        SendAsync(HttpMethod.Put, destination, pathAndQuery, body, ct, timeout);

    public Task<JsonElement> PostAsync(string destination, string pathAndQuery, JsonElement body, CancellationToken ct, TimeSpan? timeout = null) =>
        SendAsync(HttpMethod.Post, destination, pathAndQuery, body, ct, timeout);

    /// <summary>Sends a signed JSON request and returns the JSON answer; non-2xx answers throw a <see cref="FederationException"/>.</summary>
    public async Task<JsonElement> SendAsync(HttpMethod method, string destination, string pathAndQuery, JsonElement? body, CancellationToken ct, TimeSpan? timeout = null)
    {
        using var response = await SendRawAsync(method, destination, pathAndQuery, body, ct, timeout);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            string? errcode = null;
            string? error = null;
            JsonElement? errorBody = null;
            try
            {
                using var doc = JsonDocument.Parse(bytes);
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                {
                    errcode = doc.RootElement.TryGetProperty("errcode", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
                    error = doc.RootElement.TryGetProperty("error", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                    errorBody = doc.RootElement.Clone();
                }
            }
            catch (JsonException)
            {
                // Not JSON: only the status is known.
            }

            throw new FederationException($"{method} {destination}{pathAndQuery} answered {(int)response.StatusCode} {errcode} {error}".TrimEnd(), (int)response.StatusCode, errcode, null, errorBody);
        }

        try
        {
            using var doc = JsonDocument.Parse(bytes);
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new FederationException($"{method} {destination}{pathAndQuery} answered invalid JSON", (int)response.StatusCode, null, e);
        }
    }

    /// <summary>Sends a signed request and returns the raw answer (for media and other non-JSON bodies). The caller disposes it.</summary>
    public async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string destination, string pathAndQuery, JsonElement? body, CancellationToken ct, TimeSpan? timeout = null)
    {
        if (!MayContact(destination))
        {
            throw new FederationException($"federation with {destination} is not allowed by this server's configuration", 403, MatrixErrorCode.Forbidden);
        }

        var server = await discovery.ResolveAsync(destination, ct);
        var port = server.Targets.Count > 0 ? server.Targets[0].Port : ServerDiscovery.DefaultPort;
        var uri = new Uri($"https://{FormatHost(server.TlsHostname)}:{port}{pathAndQuery}");
        using var request = new HttpRequestMessage(method, uri);
        request.Headers.Host = server.HostHeader;
        var auth = XMatrixAuthorization.Create(method.Method, pathAndQuery, config.ServerName, destination, body, keys.Current);
        request.Headers.TryAddWithoutValidation("Authorization", auth.ToHeaderValue());
        if (body is { } b)
        {
            request.Content = FederationTransport.JsonContent(CanonicalJson.Encode(b, CanonicalJsonMode.Legacy));
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout ?? DefaultTimeout);
        try
        {
            return await transport.SendAsync(request, server.Targets, cts.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new FederationException($"{method} {destination}{pathAndQuery} timed out");
        }
        catch (HttpRequestException e)
        {
            LogRequestFailed(destination, method.Method, pathAndQuery, e.Message);
            throw new FederationException($"{method} {destination}{pathAndQuery} failed: {e.Message}", null, null, e);
        }
    }

    private static string FormatHost(string host) => IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{host}]" : host;

    [LoggerMessage(Level = LogLevel.Information, Message = "Federation request to {Destination} failed: {Method} {Path}: {Reason}")]
    private partial void LogRequestFailed(string destination, string method, string path, string reason);
}
