using System.Net;

using Homeserver.Federation.Client;
using Homeserver.Media;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation;

/// <summary>
/// Downloads media from the server that hosts it: the authenticated federation endpoint
/// <c>GET /_matrix/federation/v1/media/download/{mediaId}</c> (a multipart answer: JSON metadata, then the content
/// or a redirect), falling back to the legacy <c>/_matrix/media/v3/download</c> for servers that do not have it.
/// At most <c>maxBytes</c> are read; the content is buffered to a temporary file the caller's stream owns.
/// </summary>
public sealed partial class RemoteMediaFetcher(FederationClient client, FederationTransport transport, ILogger<RemoteMediaFetcher> logger) : IRemoteMediaFetcher
{
    public async Task<RemoteMediaResponse> FetchAsync(string serverName, string mediaId, long maxBytes, TimeSpan timeout, CancellationToken ct)
    {
        if (!client.MayContact(serverName))
        {
            return new RemoteMediaResponse(RemoteFetchStatus.Unavailable);
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            using var response = await client.SendRawAsync(HttpMethod.Get, serverName, $"/_matrix/federation/v1/media/download/{Uri.EscapeDataString(mediaId)}", null, cts.Token, timeout);
            if (response.IsSuccessStatusCode && response.Content.Headers.ContentType?.MediaType == "multipart/mixed")
            {
                return await ReadMultipartAsync(response, maxBytes, cts.Token);
            }

            if (response.StatusCode == HttpStatusCode.NotFound && !await IsUnrecognisedAsync(response, cts.Token))
            {
                return new RemoteMediaResponse(RemoteFetchStatus.NotFound);
            }

            // An older server: the legacy download endpoint.
            using var legacy = await client.SendRawAsync(HttpMethod.Get, serverName,
                $"/_matrix/media/v3/download/{Uri.EscapeDataString(serverName)}/{Uri.EscapeDataString(mediaId)}?allow_remote=false", null, cts.Token, timeout);
            if (legacy.StatusCode == HttpStatusCode.NotFound)
            {
                return new RemoteMediaResponse(RemoteFetchStatus.NotFound);
            }

            if (!legacy.IsSuccessStatusCode)
            {
                return new RemoteMediaResponse(RemoteFetchStatus.Unavailable);
            }

            return await BufferAsync(await legacy.Content.ReadAsStreamAsync(cts.Token), legacy.Content.Headers.ContentType?.ToString(),
                legacy.Content.Headers.ContentDisposition?.FileNameStar ?? legacy.Content.Headers.ContentDisposition?.FileName, maxBytes, cts.Token);
        }
        catch (Exception e) when (e is FederationException or HttpRequestException or IOException or InvalidDataException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            LogFetchFailed(serverName, mediaId, e.Message);
            return new RemoteMediaResponse(RemoteFetchStatus.Unavailable);
        }
    }

    private async Task<RemoteMediaResponse> ReadMultipartAsync(HttpResponseMessage response, long maxBytes, CancellationToken ct)
    {
        var boundary = HeaderUtilities.RemoveQuotes(response.Content.Headers.ContentType!.Parameters.FirstOrDefault(p => p.Name == "boundary")?.Value).Value
            ?? throw new InvalidDataException("multipart answer without boundary");
        var reader = new MultipartReader(boundary, await response.Content.ReadAsStreamAsync(ct));
        var metadata = await reader.ReadNextSectionAsync(ct) ?? throw new InvalidDataException("multipart answer without parts");
        await metadata.Body.CopyToAsync(Stream.Null, ct);
        var content = await reader.ReadNextSectionAsync(ct) ?? throw new InvalidDataException("multipart answer without content");
        if (content.Headers?.TryGetValue("Location", out var location) == true && Uri.TryCreate(location.ToString(), UriKind.Absolute, out var target))
        {
            // The content lives elsewhere (e.g. a CDN): a plain GET, through the same connect-time address checks.
            using var request = new HttpRequestMessage(HttpMethod.Get, target);
            using var redirected = await transport.SendAsync(request, [new DnsEndPoint(target.Host, target.Port)], ct);
            if (!redirected.IsSuccessStatusCode)
            {
                return new RemoteMediaResponse(RemoteFetchStatus.Unavailable);
            }

            return await BufferAsync(await redirected.Content.ReadAsStreamAsync(ct), redirected.Content.Headers.ContentType?.ToString(),
                redirected.Content.Headers.ContentDisposition?.FileNameStar ?? redirected.Content.Headers.ContentDisposition?.FileName?.Trim('"'), maxBytes, ct);
        }

        string? fileName = null;
        if (content.ContentDisposition is { } disposition && ContentDispositionHeaderValue.TryParse(disposition, out var parsed))
        {
            fileName = parsed.FileNameStar.HasValue ? parsed.FileNameStar.Value : parsed.FileName.Value?.Trim('"');
        }

        return await BufferAsync(content.Body, content.ContentType, fileName, maxBytes, ct);
    }

    private static async Task<RemoteMediaResponse> BufferAsync(Stream source, string? contentType, string? fileName, long maxBytes, CancellationToken ct)
    {
        var path = Path.GetTempFileName();
        var file = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        var buffer = new byte[81920];
        long total = 0;
        int read;
        while ((read = await source.ReadAsync(buffer, ct)) > 0)
        {
            total += read;
            if (total > maxBytes)
            {
                await file.DisposeAsync();
                return new RemoteMediaResponse(RemoteFetchStatus.TooLarge);
            }

            await file.WriteAsync(buffer.AsMemory(0, read), ct);
        }

        file.Position = 0;
        return new RemoteMediaResponse(RemoteFetchStatus.Ok, file, contentType, fileName);
    }

    private static async Task<bool> IsUnrecognisedAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var body = await response.Content.ReadAsStringAsync(ct);
        return body.Contains("M_UNRECOGNIZED", StringComparison.Ordinal);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Fetching media {MediaId} from {ServerName} failed: {Reason}")]
    private partial void LogFetchFailed(string serverName, string mediaId, string reason);
}
