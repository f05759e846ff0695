using System.Net;
using Homeserver.Core.Configuration;

namespace Homeserver.Host.Configuration;

/// <summary>The content repository's and push's keys (Synapse's names), read into <see cref="MediaConfig"/> and <see cref="PushConfig"/>.</summary>
internal static partial class ConfigLoader
{
    private static MediaConfig ReadMedia(ConfigReader r)
    {
        var d = new MediaConfig();
        var maxPixels = r.Size("max_image_pixels", d.MaxImagePixels);
        if (maxPixels < 1)
        {
            throw new ConfigException("max_image_pixels", "must be at least 1");
        }

        var sizes = new List<ThumbnailSize>();
        foreach (var item in r.Items("thumbnail_sizes"))
        {
            var width = r.Int($"{item.Path}:width", 0, 1, 10_000);
            var height = r.Int($"{item.Path}:height", 0, 1, 10_000);
            if (width == 0 || height == 0)
            {
                throw new ConfigException(item.Path, "needs width and height");
            }

            var method = r.String($"{item.Path}:method") ?? "scale";
            if (method is not ("crop" or "scale"))
            {
                throw new ConfigException($"{item.Path}:method", $"must be crop or scale, not '{method}'");
            }

            sizes.Add(new ThumbnailSize(width, height, method));
        }

        var limits = new List<MediaUploadLimit>();
        foreach (var item in r.Items("media_upload_limits"))
        {
            var period = r.Duration($"{item.Path}:time_period", TimeSpan.Zero);
            var max = r.Size($"{item.Path}:max_size", -1);
            if (period <= TimeSpan.Zero || max < 0)
            {
                throw new ConfigException(item.Path, "needs time_period (e.g. 1d) and max_size (e.g. 100M)");
            }

            limits.Add(new MediaUploadLimit(period, max));
        }

        var denied = r.StringList("url_preview_ip_range_blacklist") ?? DefaultIpRangeBlacklist.ToList();
        var allowed = r.StringList("url_preview_ip_range_whitelist") ?? [];
        foreach (var (key, list) in new[] { ("url_preview_ip_range_blacklist", denied), ("url_preview_ip_range_whitelist", allowed) })
        {
            foreach (var range in list)
            {
                if (!IPNetwork.TryParse(range, out _))
                {
                    throw new ConfigException(key, $"'{range}' is not a CIDR range such as 10.0.0.0/8");
                }
            }
        }

        TimeSpan? Lifetime(string key) => r.String(key) is null ? null : r.Duration(key, TimeSpan.Zero);

        return new MediaConfig
        {
            MaxImagePixels = maxPixels,
            DynamicThumbnails = r.Bool("dynamic_thumbnails", d.DynamicThumbnails),
            ThumbnailSizes = sizes.Count > 0 ? sizes : d.ThumbnailSizes,
            EnableAuthenticatedMedia = r.Bool("enable_authenticated_media", d.EnableAuthenticatedMedia),
            MaxPendingMediaUploads = r.Int("max_pending_media_uploads", d.MaxPendingMediaUploads, 1, 10_000),
            UnusedExpirationTime = r.Duration("unused_expiration_time", d.UnusedExpirationTime),
            UploadLimits = limits,
            LocalMediaLifetime = Lifetime("media_retention:local_media_lifetime"),
            RemoteMediaLifetime = Lifetime("media_retention:remote_media_lifetime"),
            UrlPreviewEnabled = r.Bool("url_preview_enabled", false),
            UrlPreviewIpRangeBlacklist = denied,
            UrlPreviewIpRangeWhitelist = allowed,
            MaxSpiderSize = r.Size("max_spider_size", d.MaxSpiderSize),
        };
    }

    private static PushConfig ReadPush(ConfigReader r) => new()
    {
        IncludeContent = r.Bool("push:include_content", true),
        GroupUnreadCountByRoom = r.Bool("push:group_unread_count_by_room", true),
    };
}
