using System.Globalization;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Media;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>
/// The content repository (client-server API, "Content repository"): uploads under <c>/_matrix/media</c>, the
/// authenticated downloads under <c>/_matrix/client/v1/media</c>, and the deprecated unauthenticated downloads under
/// <c>/_matrix/media/{v1,r0,v3}</c>, frozen as the spec asks when <c>enable_authenticated_media</c> is on.
/// </summary>
public static class MediaEndpoints
{
    public static IEndpointRouteBuilder MapMediaEndpoints(this IEndpointRouteBuilder app)
    {
        var legacy = app.MapGroup("/_matrix/media/{mediaVersion:regex(^(v1|r0|v3)$)}");
        legacy.MapPost("/upload", Upload);
        legacy.MapPut("/upload/{serverName}/{mediaId}", UploadTo);
        legacy.MapGet("/download/{serverName}/{mediaId}", (HttpContext http, MediaService media, string serverName, string mediaId, CancellationToken ct) =>
            Download(http, media, serverName, mediaId, null, MediaAccess.Legacy, ct));
        legacy.MapGet("/download/{serverName}/{mediaId}/{fileName}", (HttpContext http, MediaService media, string serverName, string mediaId, string fileName, CancellationToken ct) =>
            Download(http, media, serverName, mediaId, fileName, MediaAccess.Legacy, ct));
        legacy.MapGet("/thumbnail/{serverName}/{mediaId}", (HttpContext http, MediaService media, string serverName, string mediaId, CancellationToken ct) =>
            Thumbnail(http, media, serverName, mediaId, MediaAccess.Legacy, ct));
        legacy.MapGet("/config", (Authed auth, MediaService media) => Config(media));
        legacy.MapGet("/preview_url", PreviewUrl);
        app.MapPost("/_matrix/media/v1/create", Create);

        var v1 = app.V1().MapGroup("/media");
        v1.MapGet("/download/{serverName}/{mediaId}", (HttpContext http, Authed auth, MediaService media, string serverName, string mediaId, CancellationToken ct) =>
            Download(http, media, serverName, mediaId, null, MediaAccess.Authenticated, ct));
        v1.MapGet("/download/{serverName}/{mediaId}/{fileName}", (HttpContext http, Authed auth, MediaService media, string serverName, string mediaId, string fileName, CancellationToken ct) =>
            Download(http, media, serverName, mediaId, fileName, MediaAccess.Authenticated, ct));
        v1.MapGet("/thumbnail/{serverName}/{mediaId}", (HttpContext http, Authed auth, MediaService media, string serverName, string mediaId, CancellationToken ct) =>
            Thumbnail(http, media, serverName, mediaId, MediaAccess.Authenticated, ct));
        v1.MapGet("/config", (Authed auth, MediaService media) => Config(media));
        v1.MapGet("/preview_url", PreviewUrl);
        return app;
    }

    /// <summary>
    /// POST /_matrix/media/v3/upload — upload content (Content-Type header, <c>filename</c> query parameter); returns its mxc URI.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixmediav3upload
    /// </summary>
    private static async Task<IResult> Upload(HttpContext http, Authed auth, MediaService media, CancellationToken ct)
    {
        var uri = await media.UploadAsync(auth.Requester, http.Request.Body, http.Request.ContentLength, http.Request.ContentType, FileNameParameter(http), ct);
        return JsonResults.Node(new JsonObject { ["content_uri"] = uri });
    }

    /// <summary>
    /// POST /_matrix/media/v1/create — reserve an mxc URI whose content is uploaded later.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixmediav1create
    /// </summary>
    private static async Task<IResult> Create(Authed auth, MediaService media, CancellationToken ct)
    {
        var (uri, expires) = await media.CreateAsync(auth.Requester, ct);
        return JsonResults.Node(new JsonObject { ["content_uri"] = uri, ["unused_expires_at"] = expires });
    }

    /// <summary>
    /// PUT /_matrix/media/v3/upload/{serverName}/{mediaId} — the content of a media ID made by /create.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixmediav3uploadservernamemediaid
    /// </summary>
    private static async Task<IResult> UploadTo(HttpContext http, Authed auth, MediaService media, string serverName, string mediaId, CancellationToken ct)
    {
        await media.UploadToAsync(auth.Requester, RouteValues.Decode(serverName), RouteValues.Decode(mediaId), http.Request.Body, http.Request.ContentLength,
            http.Request.ContentType, FileNameParameter(http), ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}] (and the deprecated GET /_matrix/media/v3/download/...).
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediadownloadservernamemediaid
    /// </summary>
    private static async Task Download(HttpContext http, MediaService media, string serverName, string mediaId, string? fileName, MediaAccess access, CancellationToken ct)
    {
        var content = await media.GetContentAsync(RouteValues.Decode(serverName), RouteValues.Decode(mediaId), WaitParameter(http), access, AllowRemote(http), ct);
        await MediaResponses.WriteAsync(http, media.Files, content, fileName is null ? content.UploadName : RouteValues.Decode(fileName), ct);
    }

    /// <summary>
    /// GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}?width&amp;height&amp;method&amp;animated (and the deprecated /_matrix/media/v3/thumbnail/...).
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediathumbnailservernamemediaid
    /// </summary>
    private static async Task Thumbnail(HttpContext http, MediaService media, string serverName, string mediaId, MediaAccess access, CancellationToken ct)
    {
        var (width, height, method, animated) = ThumbnailParameters(http);
        var content = await media.GetThumbnailAsync(RouteValues.Decode(serverName), RouteValues.Decode(mediaId), width, height, method, animated, WaitParameter(http), access, AllowRemote(http), ct);
        await MediaResponses.WriteAsync(http, media.Files, content, "thumbnail" + Extension(content.MediaType), ct, thumbnail: true);
    }

    /// <summary>
    /// GET /_matrix/client/v1/media/config — the upload size limit.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediaconfig
    /// </summary>
    private static IResult Config(MediaService media) => JsonResults.Node(new JsonObject { ["m.upload.size"] = media.UploadSizeLimit });

    /// <summary>
    /// GET /_matrix/client/v1/media/preview_url?url&amp;ts — Open Graph data of a URL (off unless url_preview_enabled).
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediapreview_url
    /// </summary>
    private static async Task<IResult> PreviewUrl(HttpContext http, Authed auth, UrlPreviewer previewer, CancellationToken ct)
    {
        var url = http.Request.Query["url"].ToString();
        if (url.Length == 0)
        {
            throw MatrixException.MissingParam("Missing 'url'");
        }

        return JsonResults.Node(await previewer.PreviewAsync(auth.Requester, url, ct));
    }

    internal static (int Width, int Height, string Method, bool Animated) ThumbnailParameters(HttpContext http)
    {
        var query = http.Request.Query;
        int Dimension(string name)
        {
            var text = query[name].ToString();
            if (text.Length == 0)
            {
                throw MatrixException.MissingParam($"Missing '{name}'");
            }

            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
                ? n
                : throw MatrixException.InvalidParam($"'{name}' must be a positive integer");
        }

        var width = Dimension("width");
        var height = Dimension("height");
        var method = query["method"].ToString() switch
        {
            "" or "scale" => "scale",
            "crop" => "crop",
            _ => throw MatrixException.InvalidParam("method must be crop or scale"),
        };
        var animated = query["animated"].ToString() switch
        {
            "" or "false" => false,
            "true" => true,
            _ => throw MatrixException.InvalidParam("animated must be true or false"),
        };
        return (width, height, method, animated);
    }

    internal static TimeSpan WaitParameter(HttpContext http)
    {
        var text = http.Request.Query["timeout_ms"].ToString();
        if (text.Length == 0)
        {
            return MediaService.DefaultWait;
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            ? TimeSpan.FromMilliseconds(Math.Min(ms, (long)MediaService.MaxWait.TotalMilliseconds))
            : throw MatrixException.InvalidParam("timeout_ms must be a number of milliseconds");
    }

    private static bool AllowRemote(HttpContext http) => http.Request.Query["allow_remote"].ToString() != "false";

    private static string? FileNameParameter(HttpContext http)
    {
        var name = http.Request.Query["filename"].ToString();
        return name.Length == 0 ? null : name;
    }

    private static string Extension(string? mediaType) => mediaType switch
    {
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "image/gif" => ".gif",
        "image/webp" => ".webp",
        _ => string.Empty,
    };
}

/// <summary>Writes media answers with the headers that keep browsers from running what they download.</summary>
public static class MediaResponses
{
    /// <summary>The content repository's Content-Security-Policy (the spec's recommendation plus <c>media-src 'self'</c>).</summary>
    public const string ContentSecurityPolicy =
        "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';";

    public static async Task WriteAsync(HttpContext http, ContentStore files, MediaContent content, string? fileName, CancellationToken ct, bool thumbnail = false)
    {
        var response = http.Response;
        var contentType = ContentDisposition.ResponseContentType(content.MediaType);
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = contentType;
        response.Headers.ContentDisposition = ContentDisposition.Header(contentType, fileName, forceInline: thumbnail && ContentDisposition.IsInline(contentType));
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Cross-Origin-Resource-Policy"] = "cross-origin";
        response.Headers.CacheControl = "public,max-age=86400,s-maxage=0,proxy-revalidate";
        response.Headers["X-Robots-Tag"] = "noindex, nofollow, noarchive, noimageindex";
        response.ContentLength = content.Length;
        if (HttpMethods.IsHead(http.Request.Method))
        {
            return;
        }

        await response.SendFileAsync(files.PathOf(content.Sha256), 0, content.Length, ct);
    }
}
