using System.Collections.Concurrent;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Media;
using Microsoft.Extensions.Logging.Abstractions;

namespace Homeserver.Media.Tests;

/// <summary>Remote media through the <see cref="IRemoteMediaFetcher"/> port: fetched once, cached, limits enforced.</summary>
public sealed class RemoteMediaTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("remote-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private sealed class FakeFetcher(Func<string, RemoteMediaResponse> answer) : IRemoteMediaFetcher
    {
        public int Calls;

        public Task<RemoteMediaResponse> FetchAsync(string serverName, string mediaId, long maxBytes, TimeSpan timeout, CancellationToken ct)
        {
            Interlocked.Increment(ref Calls);
            return Task.FromResult(answer(mediaId));
        }
    }

    private MediaService Service(IRemoteMediaFetcher fetcher, bool authenticatedMedia = false) => new(
        new HomeserverConfig
        {
            ServerName = "local.example",
            PublicBaseUrl = new Uri("https://local.example/"),
            DataDirectory = _root,
            ConfigDirectory = _root,
            Listeners = [],
            SigningKeyPath = "k",
            MediaStorePath = _root,
            MaxUploadSize = 1000,
            Media = new MediaConfig { EnableAuthenticatedMedia = authenticatedMedia },
        },
        new InMemoryMediaStore(),
        new ContentStore(_root),
        fetcher,
        TimeProvider.System,
        NullLogger<MediaService>.Instance);

    [Fact]
    public async Task Remote_media_is_fetched_once_and_served_from_the_cache()
    {
        var fetcher = new FakeFetcher(_ => new RemoteMediaResponse(RemoteFetchStatus.Ok, new MemoryStream("remote bytes"u8.ToArray()), "text/plain", "r.txt"));
        var media = Service(fetcher);
        var first = await media.GetContentAsync("remote.example", "abc", TimeSpan.Zero, MediaAccess.Authenticated, true, CancellationToken.None);
        var second = await media.GetContentAsync("remote.example", "abc", TimeSpan.Zero, MediaAccess.Authenticated, true, CancellationToken.None);
        fetcher.Calls.Should().Be(1);
        second.Should().Be(first);
        first.MediaType.Should().Be("text/plain");
        first.UploadName.Should().Be("r.txt");
        File.ReadAllText(media.Files.PathOf(first.Sha256)).Should().Be("remote bytes");
    }

    [Theory]
    [InlineData(RemoteFetchStatus.NotFound, 404, MatrixErrorCode.NotFound)]
    [InlineData(RemoteFetchStatus.TooLarge, 502, MatrixErrorCode.TooLarge)]
    [InlineData(RemoteFetchStatus.Unavailable, 502, MatrixErrorCode.Unknown)]
    public async Task Remote_failures_map_to_the_spec_errors(RemoteFetchStatus status, int http, string errcode)
    {
        var media = Service(new FakeFetcher(_ => new RemoteMediaResponse(status)));
        var act = () => media.GetContentAsync("remote.example", "abc", TimeSpan.Zero, MediaAccess.Authenticated, true, CancellationToken.None);
        (await act.Should().ThrowAsync<MatrixException>()).Which.Should().Match<MatrixException>(e => e.HttpStatus == http && e.ErrorCode == errcode);
    }

    [Fact]
    public async Task Remote_content_over_the_size_limit_is_refused_while_reading()
    {
        var media = Service(new FakeFetcher(_ => new RemoteMediaResponse(RemoteFetchStatus.Ok, new MemoryStream(new byte[5000]), "application/octet-stream")));
        var act = () => media.GetContentAsync("remote.example", "big", TimeSpan.Zero, MediaAccess.Authenticated, true, CancellationToken.None);
        (await act.Should().ThrowAsync<MatrixException>()).Which.HttpStatus.Should().Be(502);
    }

    [Fact]
    public async Task The_frozen_legacy_api_and_allow_remote_false_never_fetch()
    {
        var fetcher = new FakeFetcher(_ => new RemoteMediaResponse(RemoteFetchStatus.Ok, new MemoryStream([1]), "application/octet-stream"));
        var frozen = Service(fetcher, authenticatedMedia: true);
        var legacy = () => frozen.GetContentAsync("remote.example", "abc", TimeSpan.Zero, MediaAccess.Legacy, true, CancellationToken.None);
        (await legacy.Should().ThrowAsync<MatrixException>()).Which.HttpStatus.Should().Be(404);
        var noRemote = () => Service(fetcher).GetContentAsync("remote.example", "abc", TimeSpan.Zero, MediaAccess.Authenticated, false, CancellationToken.None);
        (await noRemote.Should().ThrowAsync<MatrixException>()).Which.HttpStatus.Should().Be(404);
        var federation = () => Service(fetcher).GetContentAsync("remote.example", "abc", TimeSpan.Zero, MediaAccess.Federation, true, CancellationToken.None);
        (await federation.Should().ThrowAsync<MatrixException>()).Which.HttpStatus.Should().Be(404);
        fetcher.Calls.Should().Be(0);
    }

    /// <summary>Just enough of <see cref="IMediaStore"/> for remote media.</summary>
    private sealed class InMemoryMediaStore : IMediaStore
    {
        private readonly ConcurrentDictionary<(string, string), RemoteMedia> _remote = new();
        private readonly ConcurrentDictionary<(string, string), List<StoredThumbnail>> _thumbnails = new();

        public Task CreateLocalAsync(LocalMedia media, CancellationToken ct) => throw new NotSupportedException();

        public Task<bool> CompleteUploadAsync(string mediaId, string? mediaType, string? uploadName, long length, string sha256, CancellationToken ct) => throw new NotSupportedException();

        public Task<LocalMedia?> GetLocalAsync(string mediaId, CancellationToken ct) => Task.FromResult<LocalMedia?>(null);

        public Task<(int Count, long? OldestCreatedTs)> CountPendingAsync(string userId, long createdAfterTs, CancellationToken ct) => Task.FromResult((0, (long?)null));

        public Task<long> GetUploadedBytesAsync(string userId, long sinceTs, CancellationToken ct) => Task.FromResult(0L);

        public Task<RemoteMedia?> GetRemoteAsync(string origin, string mediaId, CancellationToken ct) => Task.FromResult(_remote.GetValueOrDefault((origin, mediaId)));

        public Task StoreRemoteAsync(RemoteMedia media, CancellationToken ct)
        {
            _remote[(media.Origin, media.MediaId)] = media;
            return Task.CompletedTask;
        }

        public Task<IReadOnlyList<StoredThumbnail>> GetThumbnailsAsync(string origin, string mediaId, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<StoredThumbnail>>(_thumbnails.GetValueOrDefault((origin, mediaId)) ?? []);

        public Task StoreThumbnailAsync(string origin, string mediaId, StoredThumbnail thumbnail, CancellationToken ct)
        {
            _thumbnails.GetOrAdd((origin, mediaId), _ => []).Add(thumbnail);
            return Task.CompletedTask;
        }

        public Task TouchAsync(string origin, string mediaId, long ts, CancellationToken ct) => Task.CompletedTask;

        public Task<bool> IsContentReferencedAsync(string sha256, CancellationToken ct) => Task.FromResult(_remote.Values.Any(r => r.Sha256 == sha256));

        public Task<CachedPreview?> GetPreviewAsync(string url, long nowTs, CancellationToken ct) => Task.FromResult<CachedPreview?>(null);

        public Task StorePreviewAsync(CachedPreview preview, CancellationToken ct) => Task.CompletedTask;

        public Task<IReadOnlyList<string>> PurgeAsync(long? localBefore, long? remoteBefore, long pendingBefore, long nowTs, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<string>>([]);
    }
}
