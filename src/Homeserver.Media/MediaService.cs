using System.Collections.Concurrent;
using System.Security.Cryptography;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Microsoft.Extensions.Logging;

namespace Homeserver.Media;

/// <summary>Which API asks for media: the authenticated client API, the deprecated unauthenticated one, or another server.</summary>
public enum MediaAccess
{
    /// <summary><c>/_matrix/client/v1/media/*</c>: everything.</summary>
    Authenticated,

    /// <summary><c>/_matrix/media/v3/*</c>: frozen (when <c>enable_authenticated_media</c> is on, media stored since is refused).</summary>
    Legacy,

    /// <summary><c>/_matrix/federation/v1/media/*</c>: our own media only.</summary>
    Federation,
}

/// <summary>Media ready to be served: its bytes are the content file <see cref="Sha256"/>.</summary>
public sealed record MediaContent(string Sha256, long Length, string? MediaType, string? UploadName);

/// <summary>
/// The content repository ("Content repository" module): uploads (direct and asynchronous), downloads of local media
/// and of remote media (fetched once through <see cref="IRemoteMediaFetcher"/> and cached), thumbnails, quotas and
/// retention. Bytes go to the <see cref="ContentStore"/>, metadata to <see cref="IMediaStore"/>.
/// </summary>
public sealed partial class MediaService
{
    /// <summary>How long a download waits for an asynchronous upload by default, and at most (as Synapse).</summary>
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(20);

    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(60);

    private const string LocalOrigin = "";
    private const string Letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

    private readonly HomeserverConfig _config;
    private readonly MediaConfig _media;
    private readonly IMediaStore _store;
    private readonly ContentStore _files;
    private readonly IRemoteMediaFetcher _remote;
    private readonly TimeProvider _time;
    private readonly ILogger<MediaService> _logger;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _uploadWaiters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string, string), Lazy<Task<RemoteMedia>>> _remoteFetches = new();

    // Decoding images takes memory (up to max_image_pixels * 4 bytes) and CPU: a few at a time.
    private readonly SemaphoreSlim _thumbnailGate = new(2, 2);

    public MediaService(HomeserverConfig config, IMediaStore store, ContentStore files, IRemoteMediaFetcher remote, TimeProvider time, ILogger<MediaService> logger)
    {
        _config = config;
        _media = config.Media;
        _store = store;
        _files = files;
        _remote = remote;
        _time = time;
        _logger = logger;
    }

    public string ServerName => _config.ServerName;

    public long MaxUploadSize => _config.MaxUploadSize;

    public ContentStore Files => _files;

    /// <summary>Media IDs are <c>[A-Za-z0-9_-]+</c> ("Security considerations": no path traversal through them).</summary>
    public static bool IsValidMediaId(string? mediaId) =>
        !string.IsNullOrEmpty(mediaId) && mediaId.Length <= 255 && mediaId.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');

    public static string NewMediaId() => RandomNumberGenerator.GetString(Letters, 24);

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>POST /upload: stores the content under a new media ID and returns its <c>mxc://</c> URI.</summary>
    public async Task<string> UploadAsync(Requester user, Stream body, long? contentLength, string? contentType, string? fileName, CancellationToken ct)
    {
        CheckDeclaredLength(contentLength);
        await CheckQuotaAsync(user.UserId, contentLength ?? 0, ct);
        var (sha, length) = await StoreContentAsync(body, ct);
        await CheckQuotaAfterAsync(user.UserId, sha, length, ct);
        var mediaId = NewMediaId();
        var now = Now;
        await _store.CreateLocalAsync(
            new LocalMedia(mediaId, user.UserId, now, NormaliseType(contentType), NormaliseName(fileName), length, sha, _media.EnableAuthenticatedMedia, null, now), ct);
        StartThumbnails(LocalOrigin, mediaId, contentType, sha);
        return $"mxc://{ServerName}/{mediaId}";
    }

    /// <summary>POST /media/v1/create: a media ID whose content comes later; refused with 429 when the user has too many pending.</summary>
    public async Task<(string ContentUri, long UnusedExpiresAt)> CreateAsync(Requester user, CancellationToken ct)
    {
        var now = Now;
        var expiry = (long)_media.UnusedExpirationTime.TotalMilliseconds;
        var (pending, oldest) = await _store.CountPendingAsync(user.UserId, now - expiry, ct);
        if (pending >= _media.MaxPendingMediaUploads)
        {
            var retryAfter = Math.Max(1000, (oldest ?? now) + expiry - now);
            throw new MatrixException(MatrixErrorCode.LimitExceeded, 429, "Too many pending media uploads",
                new Dictionary<string, object?> { ["retry_after_ms"] = retryAfter });
        }

        var mediaId = NewMediaId();
        await _store.CreateLocalAsync(new LocalMedia(mediaId, user.UserId, now, null, null, null, null, _media.EnableAuthenticatedMedia, null, now), ct);
        return ($"mxc://{ServerName}/{mediaId}", now + expiry);
    }

    /// <summary>PUT /upload/{serverName}/{mediaId}: the content of a media ID made by <see cref="CreateAsync"/>.</summary>
    public async Task UploadToAsync(Requester user, string serverName, string mediaId, Stream body, long? contentLength, string? contentType, string? fileName, CancellationToken ct)
    {
        if (serverName != ServerName || !IsValidMediaId(mediaId))
        {
            throw MatrixException.NotFound("Unknown media ID");
        }

        var media = await _store.GetLocalAsync(mediaId, ct) ?? throw MatrixException.NotFound("Unknown media ID");
        if (media.UserId != user.UserId)
        {
            throw MatrixException.Forbidden("Only the creator of the media ID can upload to it");
        }

        if (media.IsUploaded)
        {
            throw new MatrixException(MatrixErrorCode.CannotOverwriteMedia, 409, "Media ID already has content");
        }

        if (media.CreatedTs < Now - (long)_media.UnusedExpirationTime.TotalMilliseconds)
        {
            throw MatrixException.NotFound("Media ID has expired");
        }

        CheckDeclaredLength(contentLength);
        await CheckQuotaAsync(user.UserId, contentLength ?? 0, ct);
        var (sha, length) = await StoreContentAsync(body, ct);
        await CheckQuotaAfterAsync(user.UserId, sha, length, ct);
        if (!await _store.CompleteUploadAsync(mediaId, NormaliseType(contentType), NormaliseName(fileName), length, sha, ct))
        {
            await DeleteIfUnusedAsync(sha, ct);
            throw new MatrixException(MatrixErrorCode.CannotOverwriteMedia, 409, "Media ID already has content");
        }

        if (_uploadWaiters.TryRemove(mediaId, out var waiter))
        {
            waiter.TrySetResult();
        }

        StartThumbnails(LocalOrigin, mediaId, contentType, sha);
    }

    /// <summary>The media for a download (local, or remote through the cache), waiting up to <paramref name="wait"/> for a pending upload.</summary>
    public async Task<MediaContent> GetContentAsync(string serverName, string mediaId, TimeSpan wait, MediaAccess access, bool allowRemote, CancellationToken ct)
    {
        if (!ServerName_IsValid(serverName) || !IsValidMediaId(mediaId))
        {
            throw MatrixException.NotFound("Unknown media");
        }

        if (serverName == ServerName)
        {
            var local = await GetUploadedLocalAsync(mediaId, wait, ct);
            if (access == MediaAccess.Legacy && _media.EnableAuthenticatedMedia && local.Authenticated)
            {
                throw MatrixException.NotFound("Unknown media");
            }

            await TouchAsync(LocalOrigin, mediaId, local.LastAccessTs, ct);
            return new MediaContent(local.Sha256!, local.MediaLength!.Value, local.MediaType, local.UploadName);
        }

        if (access == MediaAccess.Federation)
        {
            throw MatrixException.NotFound("Unknown media");
        }

        var remote = await GetRemoteAsync(serverName, mediaId, access, allowRemote, ct);
        return new MediaContent(remote.Sha256, remote.MediaLength, remote.MediaType, remote.UploadName);
    }

    /// <summary>
    /// A thumbnail of the media, or the media itself when it already fits the request (the spec: "servers should return
    /// the original content rather than thumbnail it"; for an animated image only when <c>animated=true</c> is asked).
    /// </summary>
    public async Task<MediaContent> GetThumbnailAsync(
        string serverName, string mediaId, int width, int height, string method, bool animated, TimeSpan wait, MediaAccess access, bool allowRemote, CancellationToken ct)
    {
        var content = await GetContentAsync(serverName, mediaId, wait, access, allowRemote, ct);
        var isLocal = serverName == ServerName;
        if (!Thumbnailer.CanThumbnail(content.MediaType))
        {
            throw MatrixException.Unknown("Cannot generate thumbnails for the requested content");
        }

        var path = _files.PathOf(content.Sha256);
        var probe = await RunGatedAsync(() => Thumbnailer.Probe(path), ct) ?? throw MatrixException.Unknown("Cannot generate thumbnails for the requested content");
        if (probe.Pixels > _media.MaxImagePixels)
        {
            throw new MatrixException(MatrixErrorCode.TooLarge, isLocal ? 413 : 502, "Content is too large to thumbnail");
        }

        var fits = probe.Width <= width && probe.Height <= height;
        if (fits && (!probe.IsAnimated || animated) && Thumbnailer.CanThumbnail(probe.Format))
        {
            return content with { MediaType = probe.Format, UploadName = null };
        }

        var (tw, th) = Thumbnailer.TargetSize(probe.Width, probe.Height, width, height, method);
        var outputType = Thumbnailer.OutputType(probe.Format);
        var origin = isLocal ? LocalOrigin : serverName;
        var existing = await _store.GetThumbnailsAsync(origin, mediaId, ct);
        var exact = existing.FirstOrDefault(t => t.Width == tw && t.Height == th && t.Method == method && t.MediaType == outputType);
        if (exact is not null && _files.Exists(exact.Sha256))
        {
            return new MediaContent(exact.Sha256, exact.Length, exact.MediaType, null);
        }

        if (!_media.DynamicThumbnails && SelectNearest(existing, width, height, method) is { } nearest && _files.Exists(nearest.Sha256))
        {
            return new MediaContent(nearest.Sha256, nearest.Length, nearest.MediaType, null);
        }

        var stored = await MakeThumbnailAsync(origin, mediaId, path, tw, th, method, outputType, ct);
        return new MediaContent(stored.Sha256, stored.Length, stored.MediaType, null);
    }

    /// <summary>The content repository's configuration (<c>GET /media/config</c>).</summary>
    public long UploadSizeLimit => _config.MaxUploadSize;

    /// <summary>Stores bytes fetched by the URL previewer as local media of <paramref name="userId"/> (not counted against quotas).</summary>
    public async Task<(string MediaId, string Sha256, long Length)> StoreForPreviewAsync(string userId, Stream content, long maxBytes, string? contentType, string? fileName, string url, CancellationToken ct)
    {
        var (sha, length) = await _files.WriteAsync(content, maxBytes, ct);
        var mediaId = NewMediaId();
        var now = Now;
        await _store.CreateLocalAsync(new LocalMedia(mediaId, userId, now, NormaliseType(contentType), NormaliseName(fileName), length, sha, _media.EnableAuthenticatedMedia, url, now), ct);
        StartThumbnails(LocalOrigin, mediaId, contentType, sha);
        return (mediaId, sha, length);
    }

    /// <summary>Applies <c>media_retention</c> and forgets expired pending uploads and previews (run periodically).</summary>
    public async Task<int> PurgeAsync(CancellationToken ct)
    {
        var now = Now;
        long? localBefore = _media.LocalMediaLifetime is { } l ? now - (long)l.TotalMilliseconds : null;
        long? remoteBefore = _media.RemoteMediaLifetime is { } r ? now - (long)r.TotalMilliseconds : null;
        var orphans = await _store.PurgeAsync(localBefore, remoteBefore, now - (long)_media.UnusedExpirationTime.TotalMilliseconds, now, ct);
        foreach (var sha in orphans)
        {
            _files.Delete(sha);
        }

        return orphans.Count;
    }

    private static bool ServerName_IsValid(string serverName) => Homeserver.Core.ServerName.IsValid(serverName);

    private void CheckDeclaredLength(long? contentLength)
    {
        if (contentLength > _config.MaxUploadSize)
        {
            throw MatrixException.TooLarge($"Uploads are limited to {_config.MaxUploadSize} bytes");
        }
    }

    private async Task<(string Sha256, long Length)> StoreContentAsync(Stream body, CancellationToken ct)
    {
        try
        {
            return await _files.WriteAsync(body, _config.MaxUploadSize, ct);
        }
        catch (ContentTooLargeException)
        {
            throw MatrixException.TooLarge($"Uploads are limited to {_config.MaxUploadSize} bytes");
        }
    }

    /// <summary>media_upload_limits: the user's uploads in each window plus this one must stay within the limit (400 M_RESOURCE_LIMIT_EXCEEDED, as Synapse).</summary>
    private async Task CheckQuotaAsync(string userId, long length, CancellationToken ct)
    {
        foreach (var limit in _media.UploadLimits.OrderByDescending(l => l.TimePeriod))
        {
            var used = await _store.GetUploadedBytesAsync(userId, Now - (long)limit.TimePeriod.TotalMilliseconds, ct);
            if (used + length > limit.MaxBytes)
            {
                throw new MatrixException(MatrixErrorCode.ResourceLimitExceeded, 400, "Media upload limit exceeded");
            }
        }
    }

    private async Task CheckQuotaAfterAsync(string userId, string sha, long length, CancellationToken ct)
    {
        try
        {
            await CheckQuotaAsync(userId, length, ct);
        }
        catch (MatrixException)
        {
            await DeleteIfUnusedAsync(sha, ct);
            throw;
        }
    }

    private async Task DeleteIfUnusedAsync(string sha, CancellationToken ct)
    {
        if (!await _store.IsContentReferencedAsync(sha, ct))
        {
            _files.Delete(sha);
        }
    }

    private async Task<LocalMedia> GetUploadedLocalAsync(string mediaId, TimeSpan wait, CancellationToken ct)
    {
        var deadline = _time.GetUtcNow() + (wait > MaxWait ? MaxWait : wait);
        while (true)
        {
            var signal = _uploadWaiters.GetOrAdd(mediaId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            var media = await _store.GetLocalAsync(mediaId, ct) ?? throw MatrixException.NotFound("Unknown media");
            if (media.IsUploaded)
            {
                _uploadWaiters.TryRemove(mediaId, out _);
                return media;
            }

            if (media.CreatedTs < Now - (long)_media.UnusedExpirationTime.TotalMilliseconds)
            {
                throw MatrixException.NotFound("Media has expired without being uploaded");
            }

            var remaining = deadline - _time.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                throw new MatrixException(MatrixErrorCode.NotYetUploaded, 504, "Content has not yet been uploaded");
            }

            // Woken by the upload in this process; re-checked at least every half second otherwise.
            await Task.WhenAny(signal, Task.Delay(remaining < TimeSpan.FromMilliseconds(500) ? remaining : TimeSpan.FromMilliseconds(500), _time, ct));
            ct.ThrowIfCancellationRequested();
        }
    }

    private async Task<RemoteMedia> GetRemoteAsync(string origin, string mediaId, MediaAccess access, bool allowRemote, CancellationToken ct)
    {
        var cached = await _store.GetRemoteAsync(origin, mediaId, ct);
        if (cached is not null && _files.Exists(cached.Sha256))
        {
            if (access == MediaAccess.Legacy && _media.EnableAuthenticatedMedia && cached.Authenticated)
            {
                throw MatrixException.NotFound("Unknown media");
            }

            await TouchAsync(origin, mediaId, 0, ct);
            return cached;
        }

        // The freeze: the deprecated endpoints do not make us fetch anything new.
        if (!allowRemote || (access == MediaAccess.Legacy && _media.EnableAuthenticatedMedia))
        {
            throw MatrixException.NotFound("Unknown media");
        }

        var fetch = _remoteFetches.GetOrAdd((origin, mediaId), key => new Lazy<Task<RemoteMedia>>(() => FetchRemoteAsync(key.Item1, key.Item2)));
        try
        {
            return await fetch.Value.WaitAsync(ct);
        }
        finally
        {
            if (fetch.Value.IsCompleted)
            {
                _remoteFetches.TryRemove(new KeyValuePair<(string, string), Lazy<Task<RemoteMedia>>>((origin, mediaId), fetch));
            }
        }
    }

    /// <summary>Fetches and caches remote media (not tied to one request: concurrent downloads share it).</summary>
    private async Task<RemoteMedia> FetchRemoteAsync(string origin, string mediaId)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await using var response = await _remote.FetchAsync(origin, mediaId, _config.MaxUploadSize, TimeSpan.FromSeconds(60), cts.Token);
        switch (response.Status)
        {
            case RemoteFetchStatus.NotFound:
                throw MatrixException.NotFound("Unknown media");
            case RemoteFetchStatus.TooLarge:
                throw new MatrixException(MatrixErrorCode.TooLarge, 502, "Content is too large to serve");
            case RemoteFetchStatus.Unavailable:
                throw new MatrixException(MatrixErrorCode.Unknown, 502, "Failed to fetch remote media");
        }

        (string Sha256, long Length) stored;
        try
        {
            stored = await _files.WriteAsync(response.Content!, _config.MaxUploadSize, cts.Token);
        }
        catch (ContentTooLargeException)
        {
            throw new MatrixException(MatrixErrorCode.TooLarge, 502, "Content is too large to serve");
        }
        catch (IOException)
        {
            throw new MatrixException(MatrixErrorCode.Unknown, 502, "Failed to fetch remote media");
        }

        var now = Now;
        var media = new RemoteMedia(origin, mediaId, NormaliseType(response.ContentType) ?? "application/octet-stream", NormaliseName(response.FileName),
            stored.Length, stored.Sha256, _media.EnableAuthenticatedMedia, now);
        await _store.StoreRemoteAsync(media, cts.Token);
        StartThumbnails(origin, mediaId, media.MediaType, media.Sha256);
        return media;
    }

    private async Task TouchAsync(string origin, string mediaId, long lastAccess, CancellationToken ct)
    {
        var now = Now;
        if (now - lastAccess > 60_000)
        {
            await _store.TouchAsync(origin, mediaId, now, ct);
        }
    }

    /// <summary>Pre-generates the configured thumbnail sizes in the background after an upload or fetch.</summary>
    private void StartThumbnails(string origin, string mediaId, string? mediaType, string sha)
    {
        if (!Thumbnailer.CanThumbnail(mediaType) || _media.ThumbnailSizes.Count == 0)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                var path = _files.PathOf(sha);
                var probe = await RunGatedAsync(() => Thumbnailer.Probe(path), CancellationToken.None);
                if (probe is null || probe.Pixels > _media.MaxImagePixels)
                {
                    return;
                }

                var outputType = Thumbnailer.OutputType(probe.Format);
                var done = new HashSet<(int, int, string)>();
                foreach (var size in _media.ThumbnailSizes)
                {
                    var (tw, th) = Thumbnailer.TargetSize(probe.Width, probe.Height, size.Width, size.Height, size.Method);
                    if (done.Add((tw, th, size.Method)))
                    {
                        await MakeThumbnailAsync(origin, mediaId, path, tw, th, size.Method, outputType, CancellationToken.None);
                    }
                }
            }
            catch (Exception e)
            {
                LogThumbnailsFailed(e, mediaId);
            }
        });
    }

    private async Task<StoredThumbnail> MakeThumbnailAsync(string origin, string mediaId, string path, int width, int height, string method, string outputType, CancellationToken ct)
    {
        ThumbnailImage image;
        try
        {
            image = await RunGatedAsync(() => Thumbnailer.Generate(path, width, height, method, outputType, _media.MaxImagePixels), ct);
        }
        catch (ImageTooLargeException)
        {
            throw new MatrixException(MatrixErrorCode.TooLarge, origin.Length == 0 ? 413 : 502, "Content is too large to thumbnail");
        }
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException or ArgumentException)
        {
            throw MatrixException.Unknown("Cannot generate thumbnails for the requested content");
        }

        var (sha, length) = await _files.WriteAsync(image.Bytes, ct);
        var thumbnail = new StoredThumbnail(image.Width, image.Height, method, image.MediaType, length, sha);
        await _store.StoreThumbnailAsync(origin, mediaId, thumbnail, ct);
        return thumbnail;
    }

    private async Task<T> RunGatedAsync<T>(Func<T> work, CancellationToken ct)
    {
        await _thumbnailGate.WaitAsync(ct);
        try
        {
            return await Task.Run(work, ct);
        }
        finally
        {
            _thumbnailGate.Release();
        }
    }

    /// <summary>Without dynamic thumbnails: the stored thumbnail of the method closest to the request, preferring ones at least as large (as Synapse).</summary>
    private static StoredThumbnail? SelectNearest(IReadOnlyList<StoredThumbnail> thumbnails, int width, int height, string method)
    {
        var candidates = thumbnails.Where(t => t.Method == method).ToList();
        var larger = candidates.Where(t => t.Width >= width || t.Height >= height).ToList();
        var pool = larger.Count > 0 ? larger : candidates;
        return pool
            .OrderBy(t => method == "crop" ? Math.Abs((long)width * t.Height - (long)height * t.Width) : 0)
            .ThenBy(t => Math.Abs((long)(width - t.Width) * (height - t.Height)))
            .ThenBy(t => t.Length)
            .FirstOrDefault();
    }

    private static string? NormaliseType(string? contentType) =>
        string.IsNullOrWhiteSpace(contentType) ? null : contentType.Trim().Length > 255 ? null : contentType.Trim();

    private static string? NormaliseName(string? fileName)
    {
        if (string.IsNullOrEmpty(fileName))
        {
            return null;
        }

        // Control characters would break headers; very long names are cut.
        var clean = new string(fileName.Where(c => !char.IsControl(c)).ToArray());
        return clean.Length == 0 ? null : clean.Length > 255 ? clean[..255] : clean;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Could not pre-generate thumbnails of {MediaId}")]
    private partial void LogThumbnailsFailed(Exception e, string mediaId);
}
