using Dapper;
using Homeserver.Media;
using Npgsql;

namespace Homeserver.Storage.Media;

/// <summary>The content repository's tables: <c>local_media</c>, <c>remote_media_cache</c>, <c>media_thumbnails</c>, <c>url_previews</c>.</summary>
internal sealed class MediaRepository(NpgsqlDataSource db) : IMediaStore
{
    private const string LocalColumns = """
        media_id AS MediaId, user_id AS UserId, created_ts AS CreatedTs, media_type AS MediaType, upload_name AS UploadName,
        media_length AS MediaLength, sha256 AS Sha256, authenticated AS Authenticated, url_cache AS UrlCache, last_access_ts AS LastAccessTs
        """;

    private const string InsertLocal = """
        INSERT INTO local_media (media_id, user_id, created_ts, media_type, upload_name, media_length, sha256, authenticated, url_cache, last_access_ts)
        VALUES (@MediaId, @UserId, @CreatedTs, @MediaType, @UploadName, @MediaLength, @Sha256, @Authenticated, @UrlCache, @LastAccessTs)
        """;

    private const string CompleteUpload = """
        UPDATE local_media SET media_type = @MediaType, upload_name = @UploadName, media_length = @Length, sha256 = @Sha256
        WHERE media_id = @MediaId AND media_length IS NULL
        """;

    private const string SelectLocal = $"SELECT {LocalColumns} FROM local_media WHERE media_id = @MediaId";

    private const string CountPending = """
        SELECT count(*) AS Count, min(created_ts) AS Oldest FROM local_media
        WHERE user_id = @UserId AND media_length IS NULL AND created_ts > @After
        """;

    private const string SumUploaded = """
        SELECT COALESCE(sum(media_length), 0) FROM local_media WHERE user_id = @UserId AND created_ts >= @Since AND url_cache IS NULL
        """;

    private const string SelectRemote = """
        SELECT media_origin AS Origin, media_id AS MediaId, media_type AS MediaType, upload_name AS UploadName, media_length AS MediaLength,
               sha256 AS Sha256, authenticated AS Authenticated, created_ts AS CreatedTs
        FROM remote_media_cache WHERE media_origin = @Origin AND media_id = @MediaId
        """;

    private const string UpsertRemote = """
        INSERT INTO remote_media_cache (media_origin, media_id, media_type, upload_name, media_length, sha256, authenticated, created_ts, last_access_ts)
        VALUES (@Origin, @MediaId, @MediaType, @UploadName, @MediaLength, @Sha256, @Authenticated, @CreatedTs, @CreatedTs)
        ON CONFLICT (media_origin, media_id) DO UPDATE SET media_type = EXCLUDED.media_type, upload_name = EXCLUDED.upload_name,
            media_length = EXCLUDED.media_length, sha256 = EXCLUDED.sha256, authenticated = EXCLUDED.authenticated,
            created_ts = EXCLUDED.created_ts, last_access_ts = EXCLUDED.last_access_ts
        """;

    private const string SelectThumbnails = """
        SELECT width AS Width, height AS Height, method AS Method, media_type AS MediaType, length AS Length, sha256 AS Sha256
        FROM media_thumbnails WHERE media_origin = @Origin AND media_id = @MediaId
        """;

    private const string UpsertThumbnail = """
        INSERT INTO media_thumbnails (media_origin, media_id, width, height, method, media_type, length, sha256)
        VALUES (@Origin, @MediaId, @Width, @Height, @Method, @MediaType, @Length, @Sha256)
        ON CONFLICT (media_origin, media_id, width, height, method, media_type) DO UPDATE SET length = EXCLUDED.length, sha256 = EXCLUDED.sha256
        """;

    private const string TouchLocal = "UPDATE local_media SET last_access_ts = @Ts WHERE media_id = @MediaId";

    private const string TouchRemote = "UPDATE remote_media_cache SET last_access_ts = @Ts WHERE media_origin = @Origin AND media_id = @MediaId";

    private const string IsReferenced = """
        SELECT EXISTS (SELECT 1 FROM local_media WHERE sha256 = @Sha256)
            OR EXISTS (SELECT 1 FROM remote_media_cache WHERE sha256 = @Sha256)
            OR EXISTS (SELECT 1 FROM media_thumbnails WHERE sha256 = @Sha256)
        """;

    private const string SelectPreview = """
        SELECT url AS Url, fetched_ts AS FetchedTs, expires_ts AS ExpiresTs, og AS OgJson FROM url_previews WHERE url = @Url AND expires_ts > @Now
        """;

    private const string UpsertPreview = """
        INSERT INTO url_previews (url, fetched_ts, expires_ts, og) VALUES (@Url, @FetchedTs, @ExpiresTs, @OgJson)
        ON CONFLICT (url) DO UPDATE SET fetched_ts = EXCLUDED.fetched_ts, expires_ts = EXCLUDED.expires_ts, og = EXCLUDED.og
        """;

    // Retention: the rows go, then the hashes they used that nothing else uses are returned for their files to be deleted.
    private const string PurgeLocal = """
        DELETE FROM local_media WHERE (media_length IS NOT NULL AND last_access_ts < @LocalBefore) OR (media_length IS NULL AND created_ts < @PendingBefore)
        RETURNING media_id AS MediaId, sha256 AS Sha256
        """;

    private const string PurgeRemote = "DELETE FROM remote_media_cache WHERE last_access_ts < @RemoteBefore RETURNING media_origin AS Origin, media_id AS MediaId, sha256 AS Sha256";

    private const string PurgeThumbnails = """
        DELETE FROM media_thumbnails t USING unnest(@Origins, @MediaIds) AS g(origin, media_id)
        WHERE t.media_origin = g.origin AND t.media_id = g.media_id
        RETURNING t.media_origin AS Origin, t.media_id AS MediaId, t.sha256 AS Sha256
        """;

    private const string PurgePreviews = "DELETE FROM url_previews WHERE expires_ts < @Now";

    private const string Unreferenced = """
        SELECT h FROM unnest(@Hashes) AS h
        WHERE NOT EXISTS (SELECT 1 FROM local_media WHERE sha256 = h)
          AND NOT EXISTS (SELECT 1 FROM remote_media_cache WHERE sha256 = h)
          AND NOT EXISTS (SELECT 1 FROM media_thumbnails WHERE sha256 = h)
        """;

    private sealed class LocalRow
    {
        public string MediaId { get; set; } = string.Empty;

        public string UserId { get; set; } = string.Empty;

        public long CreatedTs { get; set; }

        public string? MediaType { get; set; }

        public string? UploadName { get; set; }

        public long? MediaLength { get; set; }

        public string? Sha256 { get; set; }

        public bool Authenticated { get; set; }

        public string? UrlCache { get; set; }

        public long LastAccessTs { get; set; }
    }

    private sealed class RemoteRow
    {
        public string Origin { get; set; } = string.Empty;

        public string MediaId { get; set; } = string.Empty;

        public string MediaType { get; set; } = string.Empty;

        public string? UploadName { get; set; }

        public long MediaLength { get; set; }

        public string Sha256 { get; set; } = string.Empty;

        public bool Authenticated { get; set; }

        public long CreatedTs { get; set; }
    }

    private sealed class ThumbnailRow
    {
        public int Width { get; set; }

        public int Height { get; set; }

        public string Method { get; set; } = string.Empty;

        public string MediaType { get; set; } = string.Empty;

        public long Length { get; set; }

        public string Sha256 { get; set; } = string.Empty;
    }

    private sealed class PreviewRow
    {
        public string Url { get; set; } = string.Empty;

        public long FetchedTs { get; set; }

        public long ExpiresTs { get; set; }

        public string OgJson { get; set; } = "{}";
    }

    private sealed class PurgedRow
    {
        public string Origin { get; set; } = string.Empty;

        public string MediaId { get; set; } = string.Empty;

        public string? Sha256 { get; set; }
    }

    private sealed class PendingRow
    {
        public long Count { get; set; }

        public long? Oldest { get; set; }
    }

    public async Task CreateLocalAsync(LocalMedia media, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(InsertLocal, media, cancellationToken: ct));
    }

    public async Task<bool> CompleteUploadAsync(string mediaId, string? mediaType, string? uploadName, long length, string sha256, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(
            CompleteUpload, new { MediaId = mediaId, MediaType = mediaType, UploadName = uploadName, Length = length, Sha256 = sha256 }, cancellationToken: ct)) == 1;
    }

    public async Task<LocalMedia?> GetLocalAsync(string mediaId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var r = await conn.QuerySingleOrDefaultAsync<LocalRow>(new CommandDefinition(SelectLocal, new { MediaId = mediaId }, cancellationToken: ct));
        return r is null ? null : new LocalMedia(r.MediaId, r.UserId, r.CreatedTs, r.MediaType, r.UploadName, r.MediaLength, r.Sha256, r.Authenticated, r.UrlCache, r.LastAccessTs);
    }

    public async Task<(int Count, long? OldestCreatedTs)> CountPendingAsync(string userId, long createdAfterTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var r = await conn.QuerySingleAsync<PendingRow>(new CommandDefinition(CountPending, new { UserId = userId, After = createdAfterTs }, cancellationToken: ct));
        return ((int)r.Count, r.Oldest);
    }

    public async Task<long> GetUploadedBytesAsync(string userId, long sinceTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<long>(new CommandDefinition(SumUploaded, new { UserId = userId, Since = sinceTs }, cancellationToken: ct));
    }

    public async Task<RemoteMedia?> GetRemoteAsync(string origin, string mediaId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var r = await conn.QuerySingleOrDefaultAsync<RemoteRow>(new CommandDefinition(SelectRemote, new { Origin = origin, MediaId = mediaId }, cancellationToken: ct));
        return r is null ? null : new RemoteMedia(r.Origin, r.MediaId, r.MediaType, r.UploadName, r.MediaLength, r.Sha256, r.Authenticated, r.CreatedTs);
    }

    public async Task StoreRemoteAsync(RemoteMedia media, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(UpsertRemote, media, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<StoredThumbnail>> GetThumbnailsAsync(string origin, string mediaId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<ThumbnailRow>(new CommandDefinition(SelectThumbnails, new { Origin = origin, MediaId = mediaId }, cancellationToken: ct));
        return rows.Select(r => new StoredThumbnail(r.Width, r.Height, r.Method, r.MediaType, r.Length, r.Sha256)).ToList();
    }

    public async Task StoreThumbnailAsync(string origin, string mediaId, StoredThumbnail thumbnail, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(
            UpsertThumbnail,
            new { Origin = origin, MediaId = mediaId, thumbnail.Width, thumbnail.Height, thumbnail.Method, thumbnail.MediaType, thumbnail.Length, thumbnail.Sha256 },
            cancellationToken: ct));
    }

    public async Task TouchAsync(string origin, string mediaId, long ts, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(origin.Length == 0 ? TouchLocal : TouchRemote, new { Origin = origin, MediaId = mediaId, Ts = ts }, cancellationToken: ct));
    }

    public async Task<bool> IsContentReferencedAsync(string sha256, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<bool>(new CommandDefinition(IsReferenced, new { Sha256 = sha256 }, cancellationToken: ct));
    }

    public async Task<CachedPreview?> GetPreviewAsync(string url, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var r = await conn.QuerySingleOrDefaultAsync<PreviewRow>(new CommandDefinition(SelectPreview, new { Url = url, Now = nowTs }, cancellationToken: ct));
        return r is null ? null : new CachedPreview(r.Url, r.FetchedTs, r.ExpiresTs, r.OgJson);
    }

    public async Task StorePreviewAsync(CachedPreview preview, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(UpsertPreview, preview, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<string>> PurgeAsync(long? localBefore, long? remoteBefore, long pendingBefore, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var local = (await conn.QueryAsync<PurgedRow>(new CommandDefinition(
            PurgeLocal, new { LocalBefore = localBefore ?? long.MinValue, PendingBefore = pendingBefore }, tx, cancellationToken: ct))).ToList();
        var remote = remoteBefore is { } rb
            ? (await conn.QueryAsync<PurgedRow>(new CommandDefinition(PurgeRemote, new { RemoteBefore = rb }, tx, cancellationToken: ct))).ToList()
            : [];
        var gone = local.Select(l => (Origin: string.Empty, l.MediaId)).Concat(remote.Select(r => (r.Origin, r.MediaId))).ToList();
        var thumbnails = gone.Count == 0 ? [] : (await conn.QueryAsync<PurgedRow>(new CommandDefinition(
            PurgeThumbnails, new { Origins = gone.Select(g => g.Origin).ToArray(), MediaIds = gone.Select(g => g.MediaId).ToArray() }, tx, cancellationToken: ct))).ToList();
        await conn.ExecuteAsync(new CommandDefinition(PurgePreviews, new { Now = nowTs }, tx, cancellationToken: ct));
        var hashes = local.Concat(remote).Concat(thumbnails).Select(r => r.Sha256).OfType<string>().Distinct().ToArray();
        var orphans = hashes.Length == 0 ? [] : (await conn.QueryAsync<string>(new CommandDefinition(Unreferenced, new { Hashes = hashes }, tx, cancellationToken: ct))).ToList();
        await tx.CommitAsync(ct);
        return orphans;
    }
}
