namespace Homeserver.Media;

/// <summary>Media we host: a row per media ID; the bytes are in the <see cref="ContentStore"/> under <see cref="Sha256"/>.</summary>
public sealed record LocalMedia(
    string MediaId,
    string UserId,
    long CreatedTs,
    string? MediaType,
    string? UploadName,
    long? MediaLength,
    string? Sha256,
    bool Authenticated,
    string? UrlCache,
    long LastAccessTs)
{
    /// <summary>False while an asynchronous upload (<c>POST /media/v1/create</c>) waits for its content.</summary>
    public bool IsUploaded => MediaLength is not null && Sha256 is not null;
}

/// <summary>Media of another server that we fetched and keep.</summary>
public sealed record RemoteMedia(
    string Origin, string MediaId, string MediaType, string? UploadName, long MediaLength, string Sha256, bool Authenticated, long CreatedTs);

/// <summary>A stored thumbnail: its actual size, the method that made it, its type and where its bytes are.</summary>
public sealed record StoredThumbnail(int Width, int Height, string Method, string MediaType, long Length, string Sha256);

/// <summary>A cached URL preview (the Open Graph object as JSON).</summary>
public sealed record CachedPreview(string Url, long FetchedTs, long ExpiresTs, string OgJson);

/// <summary>Media metadata storage (implemented by Homeserver.Storage). Origin "" means local media.</summary>
public interface IMediaStore
{
    Task CreateLocalAsync(LocalMedia media, CancellationToken ct);

    /// <summary>Fills in the content of a created media ID; false if it already has content.</summary>
    Task<bool> CompleteUploadAsync(string mediaId, string? mediaType, string? uploadName, long length, string sha256, CancellationToken ct);

    Task<LocalMedia?> GetLocalAsync(string mediaId, CancellationToken ct);

    /// <summary>The user's created-but-not-uploaded media IDs created after <paramref name="createdAfterTs"/>, and the oldest one's creation time.</summary>
    Task<(int Count, long? OldestCreatedTs)> CountPendingAsync(string userId, long createdAfterTs, CancellationToken ct);

    /// <summary>Bytes the user uploaded since <paramref name="sinceTs"/> (for upload quotas).</summary>
    Task<long> GetUploadedBytesAsync(string userId, long sinceTs, CancellationToken ct);

    Task<RemoteMedia?> GetRemoteAsync(string origin, string mediaId, CancellationToken ct);

    Task StoreRemoteAsync(RemoteMedia media, CancellationToken ct);

    Task<IReadOnlyList<StoredThumbnail>> GetThumbnailsAsync(string origin, string mediaId, CancellationToken ct);

    Task StoreThumbnailAsync(string origin, string mediaId, StoredThumbnail thumbnail, CancellationToken ct);

    /// <summary>Records a download (for retention), at most once a minute per media is enough.</summary>
    Task TouchAsync(string origin, string mediaId, long ts, CancellationToken ct);

    /// <summary>Whether any media or thumbnail row still uses the bytes of <paramref name="sha256"/>.</summary>
    Task<bool> IsContentReferencedAsync(string sha256, CancellationToken ct);

    Task<CachedPreview?> GetPreviewAsync(string url, long nowTs, CancellationToken ct);

    Task StorePreviewAsync(CachedPreview preview, CancellationToken ct);

    /// <summary>
    /// Deletes local media not accessed since <paramref name="localBefore"/>, remote media not accessed since
    /// <paramref name="remoteBefore"/>, created IDs never uploaded before <paramref name="pendingBefore"/> and expired
    /// previews (with their thumbnails). Returns the content hashes no row uses any more.
    /// </summary>
    Task<IReadOnlyList<string>> PurgeAsync(long? localBefore, long? remoteBefore, long pendingBefore, long nowTs, CancellationToken ct);
}

/// <summary>What a remote server answered for a media download.</summary>
public enum RemoteFetchStatus
{
    Ok,
    NotFound,
    TooLarge,
    Unavailable,
}

/// <summary>A remote media download: the content stream (owned by the caller) with its type and file name.</summary>
public sealed record RemoteMediaResponse(RemoteFetchStatus Status, Stream? Content = null, string? ContentType = null, string? FileName = null) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Content?.DisposeAsync() ?? ValueTask.CompletedTask;
}

/// <summary>
/// Fetches media from the server that hosts it (implemented by the federation module with
/// <c>GET /_matrix/federation/v1/media/download/{mediaId}</c>, falling back to the legacy
/// <c>/_matrix/media/v3/download</c>). <paramref name="maxBytes"/> must be enforced while reading.
/// </summary>
public interface IRemoteMediaFetcher
{
    Task<RemoteMediaResponse> FetchAsync(string serverName, string mediaId, long maxBytes, TimeSpan timeout, CancellationToken ct);
}

