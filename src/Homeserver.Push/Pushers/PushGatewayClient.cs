using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Homeserver.Core.Net;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Homeserver.Push.Pushers;

/// <summary>What a push gateway said: delivered (with the pushkeys it rejected) or failed.</summary>
public sealed record GatewayResult(bool Delivered, IReadOnlyList<string> Rejected, string? Failure = null)
{
    public static GatewayResult Failed(string reason) => new(false, [], reason);
}

/// <summary>
/// POSTs notifications to push gateways (<c>POST /_matrix/push/v1/notify</c> of the push gateway API): a JSON body with
/// <c>Content-Type: application/json</c> (no charset) and a Content-Length; transient failures (connection errors,
/// timeouts, 5xx, 429) are retried a few times with exponential backoff and jitter before the pusher backs off.
/// Connections go through <see cref="OutboundAddressFilter"/> (the server's <c>ip_range_blacklist</c>).
/// </summary>
public sealed class PushGatewayClient : IDisposable
{
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(10);

    private readonly HttpClient _http;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;

    public PushGatewayClient(OutboundAddressFilter filter, int retries = 2, TimeSpan? firstRetryDelay = null)
    {
        _http = new HttpClient(filter.CreateHandler(TimeSpan.FromSeconds(5), maxRedirects: 0)) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("Homeserver-Push/1.0");
        _pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = Math.Max(1, retries),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = firstRetryDelay ?? TimeSpan.FromMilliseconds(500),
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>(e => OutboundAddressFilter.DenialOf(e) is null)
                    .Handle<TimeoutRejectedException>()
                    .HandleResult(r => (int)r.StatusCode >= 500 || r.StatusCode == HttpStatusCode.TooManyRequests),
                OnRetry = args =>
                {
                    args.Outcome.Result?.Dispose();
                    return default;
                },
            })
            .AddTimeout(AttemptTimeout)
            .Build();
    }

    public async Task<GatewayResult> SendAsync(Uri url, byte[] body, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            response = await _pipeline.ExecuteAsync(
                async token =>
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                    return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token);
                },
                ct);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutRejectedException or IOException)
        {
            return GatewayResult.Failed(e.Message);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                return GatewayResult.Failed($"gateway answered {(int)response.StatusCode}");
            }

            var rejected = new List<string>();
            try
            {
                var text = await response.Content.ReadAsByteArrayAsync(ct);
                if (text.Length > 0 && text.Length < 1024 * 1024)
                {
                    using var doc = JsonDocument.Parse(text);
                    if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("rejected", out var r) && r.ValueKind == JsonValueKind.Array)
                    {
                        rejected.AddRange(r.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!));
                    }
                }
            }
            catch (JsonException)
            {
                // A 2xx without a JSON body is a delivery (some gateways answer {} or nothing).
            }

            return new GatewayResult(true, rejected);
        }
    }

    public void Dispose() => _http.Dispose();
}
