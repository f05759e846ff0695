using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Net;
using Microsoft.Extensions.Logging;

namespace Homeserver.Media;

/// <summary>
/// URL previews (<c>GET /media/preview_url</c>): fetches a page for a client and returns its Open Graph data, with the
/// page's image stored as media (<c>og:image</c> as an <c>mxc://</c> URI, <c>matrix:image:size</c> and its dimensions).
/// Off unless <c>url_preview_enabled</c>. Every connection is checked against <c>url_preview_ip_range_blacklist</c>
/// after DNS resolution (<see cref="OutboundAddressFilter"/>); downloads are capped at <c>max_spider_size</c> and 20 s;
/// results are kept for an hour.
/// </summary>
public sealed partial class UrlPreviewer : IDisposable
{
    public static readonly TimeSpan CacheFor = TimeSpan.FromHours(1);
    public static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(20);

    private readonly MediaConfig _config;
    private readonly MediaService _media;
    private readonly IMediaStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<UrlPreviewer> _logger;
    private readonly HttpClient _http;

    public UrlPreviewer(HomeserverConfig config, MediaService media, IMediaStore store, TimeProvider time, ILogger<UrlPreviewer> logger)
    {
        _config = config.Media;
        _media = media;
        _store = store;
        _time = time;
        _logger = logger;
        var filter = new OutboundAddressFilter(_config.UrlPreviewIpRangeBlacklist, _config.UrlPreviewIpRangeWhitelist, new TlsTrust(config.OutboundHttpCustomCaList));
        _http = new HttpClient(filter.CreateHandler(TimeSpan.FromSeconds(10))) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("Mozilla/5.0 (compatible; Homeserver URL preview)");
    }

    public bool Enabled => _config.UrlPreviewEnabled;

    public async Task<JsonObject> PreviewAsync(Requester user, string url, CancellationToken ct)
    {
        if (!Enabled)
        {
            throw MatrixException.Unrecognized("URL previews are disabled on this server");
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || url.Length > 2048)
        {
            throw MatrixException.InvalidParam("url must be an absolute http or https URL");
        }

        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (await _store.GetPreviewAsync(uri.AbsoluteUri, now, ct) is { } cached)
        {
            return JsonNode.Parse(cached.OgJson)!.AsObject();
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(FetchTimeout);
        var (body, contentType, finalUrl) = await DownloadAsync(uri, cts.Token);
        JsonObject og;
        if (contentType is not null && ContentDisposition.Essence(contentType).StartsWith("image/", StringComparison.Ordinal))
        {
            og = new JsonObject();
            await AddImageAsync(og, user, body, contentType, uri, cts.Token);
        }
        else if (contentType is null || ContentDisposition.Essence(contentType) is "text/html" or "application/xhtml+xml")
        {
            var html = Decode(body, contentType);
            var properties = OpenGraph.Parse(html, finalUrl);
            og = new JsonObject();
            foreach (var (key, value) in properties.Where(p => p.Key != "og:image"))
            {
                og[key] = value;
            }

            if (properties.TryGetValue("og:image", out var imageUrl))
            {
                try
                {
                    var (imageBody, imageType, _) = await DownloadAsync(new Uri(imageUrl), cts.Token);
                    if (imageType is not null && ContentDisposition.Essence(imageType).StartsWith("image/", StringComparison.Ordinal))
                    {
                        await AddImageAsync(og, user, imageBody, imageType, new Uri(imageUrl), cts.Token);
                    }
                }
                catch (MatrixException e)
                {
                    // The page's preview stands without its image.
                    LogImageFailed(imageUrl, e.Message);
                }
            }
        }
        else
        {
            og = new JsonObject();
        }

        await _store.StorePreviewAsync(new CachedPreview(uri.AbsoluteUri, now, now + (long)CacheFor.TotalMilliseconds, og.ToJsonString()), ct);
        return og;
    }

    private async Task AddImageAsync(JsonObject og, Requester user, byte[] body, string contentType, Uri source, CancellationToken ct)
    {
        var fileName = Path.GetFileName(source.AbsolutePath);
        var (mediaId, sha, length) = await _media.StoreForPreviewAsync(user.UserId, new MemoryStream(body, writable: false), _config.MaxSpiderSize, contentType,
            string.IsNullOrEmpty(fileName) ? null : fileName, source.AbsoluteUri, ct);
        og["og:image"] = $"mxc://{_media.ServerName}/{mediaId}";
        og["og:image:type"] = ContentDisposition.Essence(contentType);
        og["matrix:image:size"] = length;
        if (Thumbnailer.Probe(_media.Files.PathOf(sha)) is { } probe)
        {
            og["og:image:width"] = probe.Width;
            og["og:image:height"] = probe.Height;
        }
    }

    /// <summary>GETs a URL (redirects followed, each connection checked), at most max_spider_size bytes.</summary>
    private async Task<(byte[] Body, string? ContentType, Uri FinalUrl)> DownloadAsync(Uri uri, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("*/*", 0.8));
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (HttpRequestException e) when (OutboundAddressFilter.DenialOf(e) is { } denied)
        {
            // As Synapse: an address named in the URL is "blocked"; a name resolving only to blocked addresses looks like a DNS failure.
            throw denied.IsLiteral
                ? new MatrixException(MatrixErrorCode.Unknown, 403, "IP address blocked by IP blacklist entry")
                : new MatrixException(MatrixErrorCode.Unknown, 502, "DNS resolution failure during URL preview generation");
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
        {
            throw new MatrixException(MatrixErrorCode.Unknown, 502, "Failed to download content");
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new MatrixException(MatrixErrorCode.Unknown, 502, $"Failed to download content: the server answered {(int)response.StatusCode}");
            }

            if (response.Content.Headers.ContentLength > _config.MaxSpiderSize)
            {
                throw new MatrixException(MatrixErrorCode.TooLarge, 502, "Content is too large to preview");
            }

            try
            {
                await using var stream = await response.Content.ReadAsStreamAsync(ct);
                using var buffer = new MemoryStream();
                var chunk = new byte[16 * 1024];
                int read;
                while ((read = await stream.ReadAsync(chunk, ct)) > 0)
                {
                    if (buffer.Length + read > _config.MaxSpiderSize)
                    {
                        throw new MatrixException(MatrixErrorCode.TooLarge, 502, "Content is too large to preview");
                    }

                    buffer.Write(chunk, 0, read);
                }

                return (buffer.ToArray(), response.Content.Headers.ContentType?.ToString(), response.RequestMessage?.RequestUri ?? uri);
            }
            catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException)
            {
                throw new MatrixException(MatrixErrorCode.Unknown, 502, "Failed to download content");
            }
        }
    }

    private static string Decode(byte[] body, string? contentType)
    {
        Encoding encoding = Encoding.UTF8;
        var charset = contentType is null ? null : MediaTypeHeaderValue.TryParse(contentType, out var parsed) ? parsed.CharSet?.Trim('"') : null;
        if (charset is not null)
        {
            try
            {
                encoding = Encoding.GetEncoding(charset);
            }
            catch (ArgumentException)
            {
                encoding = Encoding.UTF8;
            }
        }

        return encoding.GetString(body);
    }

    public void Dispose() => _http.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "URL preview: could not fetch the image {Url}: {Reason}")]
    private partial void LogImageFailed(string url, string reason);
}
