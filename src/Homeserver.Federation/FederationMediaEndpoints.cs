using System.Globalization;
using System.Text;
using Homeserver.Core;
using Homeserver.Media;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.Federation;

/// <summary>
/// Serving our media to other servers (server-server API, "Content Repository"): <c>multipart/mixed</c> answers with a
/// JSON metadata part (currently always <c>{}</c>) and the content part.
///
/// AUTHENTICATION: these routes must only be reachable with a valid X-Matrix <c>Authorization</c> header. The
/// federation module's request authentication (being built on main) has to be applied to them when the branches are
/// merged — e.g. by mapping them inside its authenticated route group, or adding its endpoint filter here.
/// </summary>
public static class FederationMediaEndpoints
{
    public static IEndpointRouteBuilder MapFederationMediaEndpoints(this IEndpointRouteBuilder app)
    {
        var media = app.MapGroup("/_matrix/federation/v1/media");
        media.MapGet("/download/{mediaId}", Download);
        media.MapGet("/thumbnail/{mediaId}", Thumbnail);
        return app;
    }

    /// <summary>
    /// GET /_matrix/federation/v1/media/download/{mediaId} — one of our media as multipart/mixed.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1mediadownloadmediaid
    /// </summary>
    private static async Task Download(HttpContext http, FederationRequest request, MediaService media, string mediaId, CancellationToken ct)
    {
        var content = await media.GetContentAsync(media.ServerName, mediaId, Wait(http), MediaAccess.Federation, allowRemote: false, ct);
        await WriteMultipartAsync(http, media.Files, content, content.UploadName, ct);
    }

    /// <summary>
    /// GET /_matrix/federation/v1/media/thumbnail/{mediaId}?width&amp;height&amp;method&amp;animated — a thumbnail of one of our media as multipart/mixed.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1mediathumbnailmediaid
    /// </summary>
    private static async Task Thumbnail(HttpContext http, FederationRequest request, MediaService media, string mediaId, CancellationToken ct)
    {
        var query = http.Request.Query;
        int Dimension(string name) => int.TryParse(query[name].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw MatrixException.InvalidParam($"'{name}' must be a positive integer");
        var method = query["method"].ToString() switch
        {
            "" or "scale" => "scale",
            "crop" => "crop",
            _ => throw MatrixException.InvalidParam("method must be crop or scale"),
        };
        var content = await media.GetThumbnailAsync(
            media.ServerName, mediaId, Dimension("width"), Dimension("height"), method, query["animated"].ToString() == "true", Wait(http), MediaAccess.Federation, false, ct);
        await WriteMultipartAsync(http, media.Files, content, null, ct);
    }

    /// <summary>
    /// Writes the two-part answer: <c>application/json</c> metadata, then the bytes with their Content-Type and
    /// Content-Disposition (the same rules as client downloads). Content-Length is exact, as the parts' sizes are known.
    /// </summary>
    public static async Task WriteMultipartAsync(HttpContext http, ContentStore files, MediaContent content, string? fileName, CancellationToken ct)
    {
        var boundary = Guid.NewGuid().ToString("N");
        var contentType = ContentDisposition.ResponseContentType(content.MediaType);
        var head = Encoding.UTF8.GetBytes(
            $"--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n" +
            $"--{boundary}\r\nContent-Type: {contentType}\r\nContent-Disposition: {ContentDisposition.Header(contentType, fileName)}\r\n\r\n");
        var tail = Encoding.UTF8.GetBytes($"\r\n--{boundary}--\r\n");

        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = $"multipart/mixed; boundary={boundary}";
        response.ContentLength = head.Length + content.Length + tail.Length;
        await response.Body.WriteAsync(head, ct);
        await response.SendFileAsync(files.PathOf(content.Sha256), 0, content.Length, ct);
        await response.Body.WriteAsync(tail, ct);
    }

    private static TimeSpan Wait(HttpContext http) =>
        long.TryParse(http.Request.Query["timeout_ms"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            ? TimeSpan.FromMilliseconds(Math.Min(ms, (long)MediaService.MaxWait.TotalMilliseconds))
            : MediaService.DefaultWait;
}
