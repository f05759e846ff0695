using System.Net;
using System.Net.Http.Headers;

namespace Homeserver.Federation.Client;

/// <summary>
/// Fetches <c>/.well-known/matrix/server</c> over HTTPS with the federation transport's TLS rules, following
/// up to 5 redirects, and says how long to cache the answer (Cache-Control max-age capped at 48 h,
/// default 24 h; failures for 1 h), as the server-server API recommends.
/// </summary>
public sealed class WellKnownFetcher(IFederationHttp transport) : IWellKnownFetcher
{
    private static readonly TimeSpan DefaultCache = TimeSpan.FromHours(24);
    private static readonly TimeSpan MaxCache = TimeSpan.FromHours(48);
    private static readonly TimeSpan ErrorCache = TimeSpan.FromHours(1);
    private const int MaxBodyBytes = 50 * 1024;

    public async Task<(string? Delegated, TimeSpan CacheFor)> FetchAsync(string hostname, CancellationToken ct)
    {
        var uri = new Uri($"https://{hostname}/.well-known/matrix/server");
        try
        {
            for (var redirects = 0; redirects < 5; redirects++)
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cts.CancelAfter(TimeSpan.FromSeconds(10));
                using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                using var response = await transport.SendAsync(request, [new DnsEndPoint(uri.Host, uri.Port)], cts.Token);
                if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
                {
                    uri = location.IsAbsoluteUri ? location : new Uri(uri, location);
                    continue;
                }

                if (response.StatusCode != HttpStatusCode.OK)
                {
                    return (null, ErrorCache);
                }

                var body = await response.Content.ReadAsByteArrayAsync(cts.Token);
                if (body.Length > MaxBodyBytes)
                {
                    return (null, ErrorCache);
                }

                var delegated = WellKnownParser.Parse(body);
                return (delegated, delegated is null ? ErrorCache : CacheTime(response.Headers.CacheControl));
            }
        }
        catch (Exception e) when ((e is HttpRequestException or OperationCanceledException or FederationException) && !ct.IsCancellationRequested)
        {
            return (null, ErrorCache);
        }

        return (null, ErrorCache);
    }

    internal static TimeSpan CacheTime(CacheControlHeaderValue? cacheControl)
    {
        if (cacheControl?.NoStore == true)
        {
            return TimeSpan.Zero;
        }

        if (cacheControl?.MaxAge is { } maxAge)
        {
            return maxAge > MaxCache ? MaxCache : maxAge;
        }

        return DefaultCache;
    }
}
