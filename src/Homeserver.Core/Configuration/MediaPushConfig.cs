namespace Homeserver.Core.Configuration;

/// <summary>
/// The content repository's settings (Synapse's key names: <c>max_image_pixels</c>, <c>dynamic_thumbnails</c>,
/// <c>thumbnail_sizes</c>, <c>enable_authenticated_media</c>, <c>media_upload_limits</c>, <c>media_retention</c>,
/// <c>url_preview_*</c>...). <see cref="HomeserverConfig.MaxUploadSize"/> and <see cref="HomeserverConfig.MediaStorePath"/>
/// stay where they were.
/// </summary>
public sealed record MediaConfig
{
    /// <summary>Images with more pixels than this are never decoded (decompression bombs): 413 M_TOO_LARGE on thumbnails.</summary>
    public long MaxImagePixels { get; init; } = 32L * 1024 * 1024;

    /// <summary>Thumbnails of sizes other than <see cref="ThumbnailSizes"/> are made on demand (and kept).</summary>
    public bool DynamicThumbnails { get; init; } = true;

    /// <summary>The thumbnails made for every uploaded image (the spec's recommended list by default).</summary>
    public IReadOnlyList<ThumbnailSize> ThumbnailSizes { get; init; } = ThumbnailSize.Defaults;

    /// <summary>
    /// The spec's "freeze": media uploaded (or remote media cached) while this is on is served only by the
    /// authenticated <c>/_matrix/client/v1/media</c> endpoints, not the deprecated <c>/_matrix/media/v3</c> ones.
    /// Off by default so that older clients and test suites keep working; media stored while it was off stays
    /// reachable through both.
    /// </summary>
    public bool EnableAuthenticatedMedia { get; init; }

    /// <summary>How many created-but-not-uploaded media IDs a user may hold (<c>POST /media/v1/create</c>).</summary>
    public int MaxPendingMediaUploads { get; init; } = 5;

    /// <summary>How long a created media ID waits for its upload before it expires.</summary>
    public TimeSpan UnusedExpirationTime { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Per-user upload quotas: at most <c>MaxBytes</c> uploaded in any window of <c>TimePeriod</c>.</summary>
    public IReadOnlyList<MediaUploadLimit> UploadLimits { get; init; } = [];

    /// <summary>Local media not downloaded for this long is deleted; null keeps it forever.</summary>
    public TimeSpan? LocalMediaLifetime { get; init; }

    /// <summary>Cached remote media not downloaded for this long is deleted (it can be fetched again); null keeps it.</summary>
    public TimeSpan? RemoteMediaLifetime { get; init; }

    /// <summary>URL previews (<c>/preview_url</c>) fetch arbitrary URLs for clients: off unless an admin turns them on.</summary>
    public bool UrlPreviewEnabled { get; init; }

    /// <summary>Address ranges URL previews never connect to, checked on every connection after DNS resolution.</summary>
    public IReadOnlyList<string> UrlPreviewIpRangeBlacklist { get; init; } = [];

    /// <summary>Exceptions to <see cref="UrlPreviewIpRangeBlacklist"/>.</summary>
    public IReadOnlyList<string> UrlPreviewIpRangeWhitelist { get; init; } = [];

    /// <summary>The largest page or image a URL preview downloads.</summary>
    public long MaxSpiderSize { get; init; } = 10L * 1024 * 1024;
}

/// <summary>One pre-generated thumbnail size: <c>crop</c> or <c>scale</c>.</summary>
public sealed record ThumbnailSize(int Width, int Height, string Method)
{
    /// <summary>The sizes the spec asks servers to produce ("Thumbnails").</summary>
    public static readonly IReadOnlyList<ThumbnailSize> Defaults =
    [
        new(32, 32, "crop"), new(96, 96, "crop"), new(320, 240, "scale"), new(640, 480, "scale"), new(800, 600, "scale"),
    ];
}

/// <summary>A quota: at most <see cref="MaxBytes"/> uploaded by one user within any <see cref="TimePeriod"/>.</summary>
public sealed record MediaUploadLimit(TimeSpan TimePeriod, long MaxBytes);

/// <summary>Push notification settings (Synapse's <c>push:</c> section).</summary>
public sealed record PushConfig
{
    /// <summary>Send the event content to push gateways (turn off so that message text never leaves through them).</summary>
    public bool IncludeContent { get; init; } = true;

    /// <summary>The badge count (<c>counts.unread</c>) counts rooms with unread notifications rather than notifications.</summary>
    public bool GroupUnreadCountByRoom { get; init; } = true;
}
