using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Homeserver.Core.Configuration;
using Homeserver.TestKit;
using SkiaSharp;

namespace Homeserver.Host.Tests;

public sealed class MediaTests(TestServer server) : IClassFixture<TestServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    internal static async Task<(HttpStatusCode Status, JsonElement Json)> UploadAsync(MatrixClient client, byte[] bytes, string? contentType, string? fileName = null, string path = "/_matrix/media/v3/upload")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path + (fileName is null ? string.Empty : "?filename=" + Uri.EscapeDataString(fileName)));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", client.AccessToken);
        request.Content = new ByteArrayContent(bytes);
        if (contentType is not null)
        {
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        using var response = await client.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    internal static string MediaPath(string contentUri) => contentUri["mxc://".Length..];

    private static async Task<HttpResponseMessage> GetAsync(MatrixClient client, string path, bool authenticated = true)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (authenticated)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", client.AccessToken);
        }

        return await client.Http.SendAsync(request);
    }

    [Fact]
    public async Task An_uploaded_png_downloads_byte_for_byte_with_safe_headers()
    {
        var alice = await NewUserAsync();
        var png = TestImages.Make(640, 480, SKEncodedImageFormat.Png);
        var (status, json) = await UploadAsync(alice, png, "image/png", "picture.png");
        status.Should().Be(HttpStatusCode.OK);
        var uri = json.GetProperty("content_uri").GetString()!;
        uri.Should().StartWith($"mxc://{server.ServerName}/");

        using var response = await GetAsync(alice, "/_matrix/client/v1/media/download/" + MediaPath(uri));
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await response.Content.ReadAsByteArrayAsync()).Should().Equal(png);
        response.Content.Headers.ContentType!.MediaType.Should().Be("image/png");
        response.Content.Headers.ContentLength.Should().Be(png.Length);
        response.Content.Headers.ContentDisposition!.ToString().Should().Be("inline; filename=picture.png");
        response.Headers.GetValues("X-Content-Type-Options").Single().Should().Be("nosniff");
        response.Headers.GetValues("Cross-Origin-Resource-Policy").Single().Should().Be("cross-origin");
        response.Headers.GetValues("Content-Security-Policy").Single().Should()
            .Be("sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';");

        // The deprecated endpoint serves it too (no freeze by default), and a different file name can be asked for.
        using var legacy = await GetAsync(alice, "/_matrix/media/v3/download/" + MediaPath(uri) + "/%E2%98%95", authenticated: false);
        legacy.StatusCode.Should().Be(HttpStatusCode.OK);
        legacy.Content.Headers.GetValues("Content-Disposition").Single().Should().Be("inline; filename*=utf-8''%E2%98%95");
    }

    [Fact]
    public async Task The_authenticated_download_needs_a_token()
    {
        var alice = await NewUserAsync();
        var (_, json) = await UploadAsync(alice, Encoding.UTF8.GetBytes("hello"), "text/plain");
        using var response = await GetAsync(alice, "/_matrix/client/v1/media/download/" + MediaPath(json.GetProperty("content_uri").GetString()!), authenticated: false);
        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png, "image/png", "image/png")]
    [InlineData(SKEncodedImageFormat.Jpeg, "image/jpeg", "image/jpeg")]
    public async Task Real_images_are_thumbnailed_by_scale_and_crop_and_never_enlarged(SKEncodedImageFormat format, string type, string thumbnailType)
    {
        var alice = await NewUserAsync();
        var image = TestImages.Make(1024, 768, format);
        var (_, json) = await UploadAsync(alice, image, type);
        var path = MediaPath(json.GetProperty("content_uri").GetString()!);

        using (var scaled = await GetAsync(alice, $"/_matrix/client/v1/media/thumbnail/{path}?width=320&height=240&method=scale"))
        {
            scaled.StatusCode.Should().Be(HttpStatusCode.OK);
            scaled.Content.Headers.ContentType!.MediaType.Should().Be(thumbnailType);
            scaled.Content.Headers.ContentDisposition!.DispositionType.Should().Be("inline");
            TestImages.Read(await scaled.Content.ReadAsByteArrayAsync()).Should().Be((320, 240, format));
        }

        using (var cropped = await GetAsync(alice, $"/_matrix/client/v1/media/thumbnail/{path}?width=96&height=96&method=crop"))
        {
            TestImages.Read(await cropped.Content.ReadAsByteArrayAsync()).Should().Be((96, 96, format));
        }

        // An odd size is made on demand: scale keeps the aspect within the box.
        using (var odd = await GetAsync(alice, $"/_matrix/client/v1/media/thumbnail/{path}?width=100&height=400&method=scale"))
        {
            var (w, h, _) = TestImages.Read(await odd.Content.ReadAsByteArrayAsync());
            (w, h).Should().Be((100, 75));
        }

        // Larger than the image: the original, never an enlargement.
        using (var big = await GetAsync(alice, $"/_matrix/client/v1/media/thumbnail/{path}?width=2000&height=2000&method=scale"))
        {
            (await big.Content.ReadAsByteArrayAsync()).Should().Equal(image);
        }

        using (var bigCrop = await GetAsync(alice, $"/_matrix/client/v1/media/thumbnail/{path}?width=2000&height=1000&method=crop"))
        {
            (await bigCrop.Content.ReadAsByteArrayAsync()).Should().Equal(image, "the image is smaller than the request");
        }

        using (var wideCrop = await GetAsync(alice, $"/_matrix/client/v1/media/thumbnail/{path}?width=2000&height=500&method=crop"))
        {
            var (w, h, _) = TestImages.Read(await wideCrop.Content.ReadAsByteArrayAsync());
            (w, h).Should().Be((1024, 256), "the requested aspect, no wider than the image");
        }

        // The deprecated endpoint (SyTest's) answers the same way.
        using var legacy = await GetAsync(alice, $"/_matrix/media/v3/thumbnail/{path}?width=32&height=32&method=crop", authenticated: false);
        TestImages.Read(await legacy.Content.ReadAsByteArrayAsync()).Should().Be((32, 32, format));
    }

    [Theory]
    [InlineData("?height=32", "M_MISSING_PARAM")]
    [InlineData("?width=0&height=32", "M_INVALID_PARAM")]
    [InlineData("?width=abc&height=32", "M_INVALID_PARAM")]
    [InlineData("?width=32&height=32&method=stretch", "M_INVALID_PARAM")]
    public async Task Bad_thumbnail_parameters_are_400(string query, string errcode)
    {
        var alice = await NewUserAsync();
        var (_, json) = await UploadAsync(alice, TestImages.Make(64, 64, SKEncodedImageFormat.Png), "image/png");
        using var response = await GetAsync(alice, "/_matrix/client/v1/media/thumbnail/" + MediaPath(json.GetProperty("content_uri").GetString()!) + query);
        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("errcode").GetString().Should().Be(errcode);
    }

    [Fact]
    public async Task Non_images_and_broken_images_are_not_thumbnailed()
    {
        var alice = await NewUserAsync();
        var (_, text) = await UploadAsync(alice, Encoding.UTF8.GetBytes("just text"), "text/plain");
        using var a = await GetAsync(alice, "/_matrix/client/v1/media/thumbnail/" + MediaPath(text.GetProperty("content_uri").GetString()!) + "?width=32&height=32");
        a.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var (_, fake) = await UploadAsync(alice, Encoding.UTF8.GetBytes("<svg onload=alert(1)>"), "image/png");
        using var b = await GetAsync(alice, "/_matrix/client/v1/media/thumbnail/" + MediaPath(fake.GetProperty("content_uri").GetString()!) + "?width=32&height=32");
        b.StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Html_is_served_as_an_attachment_and_unicode_names_are_rfc5987_encoded()
    {
        var alice = await NewUserAsync();
        var (_, json) = await UploadAsync(alice, Encoding.UTF8.GetBytes("<script>alert(1)</script>"), "text/html", "\U0001F414.html");
        using var response = await GetAsync(alice, "/_matrix/client/v1/media/download/" + MediaPath(json.GetProperty("content_uri").GetString()!));
        response.Content.Headers.GetValues("Content-Type").Single().Should().Be("text/html; charset=UTF-8");
        response.Content.Headers.GetValues("Content-Disposition").Single().Should().Be("attachment; filename*=utf-8''%F0%9F%90%94.html");

        var (_, plain) = await UploadAsync(alice, Encoding.UTF8.GetBytes("Test media file"), "text/plain", "ascii", "/_matrix/media/v1/upload");
        using var ascii = await GetAsync(alice, "/_matrix/media/v1/download/" + MediaPath(plain.GetProperty("content_uri").GetString()!), authenticated: false);
        ascii.Content.Headers.GetValues("Content-Disposition").Single().Should().Be("inline; filename=ascii");
        var (_, noName) = await UploadAsync(alice, [1, 2, 3], null);
        using var unnamed = await GetAsync(alice, "/_matrix/client/v1/media/download/" + MediaPath(noName.GetProperty("content_uri").GetString()!));
        unnamed.Content.Headers.GetValues("Content-Type").Single().Should().Be("application/octet-stream");
        unnamed.Content.Headers.GetValues("Content-Disposition").Single().Should().Be("attachment");
    }

    [Theory]
    [InlineData("/_matrix/client/v1/media/download/{server}/..%2F..%2Fetc%2Fpasswd")]
    [InlineData("/_matrix/client/v1/media/download/{server}/abc.def")]
    [InlineData("/_matrix/client/v1/media/download/not a server/abcdef")]
    [InlineData("/_matrix/client/v1/media/download/{server}/doesnotexist")]
    [InlineData("/_matrix/media/v3/download/{server}/doesnotexist")]
    public async Task Unknown_and_malformed_media_ids_are_404(string path)
    {
        var alice = await NewUserAsync();
        using var response = await GetAsync(alice, path.Replace("{server}", server.ServerName, StringComparison.Ordinal));
        response.StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Remote_media_of_a_server_that_cannot_be_reached_is_502()
    {
        var alice = await NewUserAsync();
        using var response = await GetAsync(alice, "/_matrix/client/v1/media/download/remote.invalid/abcdef");
        response.StatusCode.Should().Be(HttpStatusCode.BadGateway);
    }

    [Fact]
    public async Task Asynchronous_uploads_wait_refuse_overwrites_and_other_users()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var created = (await alice.PostAsync("/_matrix/media/v1/create", new { })).EnsureOk().Json;
        var uri = created.GetProperty("content_uri").GetString()!;
        created.GetProperty("unused_expires_at").GetInt64().Should().BeGreaterThan(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var path = MediaPath(uri);

        using (var early = await GetAsync(alice, $"/_matrix/client/v1/media/download/{path}?timeout_ms=200"))
        {
            early.StatusCode.Should().Be(HttpStatusCode.GatewayTimeout);
            JsonDocument.Parse(await early.Content.ReadAsStringAsync()).RootElement.GetProperty("errcode").GetString().Should().Be("M_NOT_YET_UPLOADED");
        }

        var waiting = GetAsync(alice, $"/_matrix/client/v1/media/download/{path}?timeout_ms=15000");
        await Task.Delay(300);
        var (bobStatus, bobJson) = await PutAsync(bob, path, "not yours");
        bobStatus.Should().Be(HttpStatusCode.Forbidden);
        bobJson.GetProperty("errcode").GetString().Should().Be("M_FORBIDDEN");
        (await PutAsync(alice, path, "finally here")).Status.Should().Be(HttpStatusCode.OK);
        using (var response = await waiting)
        {
            response.StatusCode.Should().Be(HttpStatusCode.OK);
            (await response.Content.ReadAsStringAsync()).Should().Be("finally here");
        }

        var (again, againJson) = await PutAsync(alice, path, "second time");
        again.Should().Be(HttpStatusCode.Conflict);
        againJson.GetProperty("errcode").GetString().Should().Be("M_CANNOT_OVERWRITE_MEDIA");
        (await PutAsync(alice, server.ServerName + "/neverCreated", "x")).Status.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Too_many_pending_uploads_are_rate_limited()
    {
        var carol = await NewUserAsync();
        for (var i = 0; i < 5; i++)
        {
            (await carol.PostAsync("/_matrix/media/v1/create", new { })).EnsureOk();
        }

        var sixth = await carol.PostAsync("/_matrix/media/v1/create", new { });
        sixth.Status.Should().Be(HttpStatusCode.TooManyRequests);
        sixth.ErrCode.Should().Be("M_LIMIT_EXCEEDED");
        sixth.Json.GetProperty("retry_after_ms").GetInt64().Should().BeGreaterThan(0);
    }

    [Fact]
    public async Task Config_reports_the_upload_limit()
    {
        var alice = await NewUserAsync();
        (await alice.GetAsync("/_matrix/client/v1/media/config")).EnsureOk().Json.GetProperty("m.upload.size").GetInt64().Should().Be(server.Config.MaxUploadSize);
        (await alice.GetAsync("/_matrix/media/v3/config")).EnsureOk().Json.GetProperty("m.upload.size").GetInt64().Should().Be(server.Config.MaxUploadSize);
    }

    [Fact]
    public async Task Identical_uploads_share_one_file()
    {
        var alice = await NewUserAsync();
        var bytes = Encoding.UTF8.GetBytes("deduplicated content " + Guid.NewGuid());
        var (_, a) = await UploadAsync(alice, bytes, "text/plain");
        var (_, b) = await UploadAsync(alice, bytes, "text/plain");
        a.GetProperty("content_uri").GetString().Should().NotBe(b.GetProperty("content_uri").GetString());
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        var file = Path.Combine(server.Config.MediaStorePath, "content", hash[..2], hash[2..4], hash);
        File.Exists(file).Should().BeTrue();
        Directory.GetFiles(Path.Combine(server.Config.MediaStorePath, "content"), hash, SearchOption.AllDirectories).Should().ContainSingle();
    }

    [Fact]
    public async Task Federation_download_needs_a_signed_request()
    {
        var alice = await NewUserAsync();
        var (_, json) = await UploadAsync(alice, Encoding.UTF8.GetBytes("for another server"), "text/plain", "note.txt");
        var mediaId = MediaPath(json.GetProperty("content_uri").GetString()!).Split('/')[1];
        using var response = await GetAsync(alice, "/_matrix/federation/v1/media/download/" + mediaId, authenticated: false);
        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Json)> PutAsync(MatrixClient client, string path, string content)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, "/_matrix/media/v3/upload/" + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", client.AccessToken);
        request.Content = new StringContent(content, Encoding.UTF8, "text/plain");
        using var response = await client.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }
}

/// <summary>A server with small limits: 8 KiB uploads, 20 KB a day per user, 100 000-pixel images.</summary>
public sealed class LimitedMediaServer : TestServer
{
    protected override HomeserverConfig Configure(HomeserverConfig config) => config with
    {
        MaxUploadSize = 8 * 1024,
        Media = config.Media with { UploadLimits = [new MediaUploadLimit(TimeSpan.FromDays(1), 20_000)], MaxImagePixels = 100_000, EnableAuthenticatedMedia = true },
    };
}

public sealed class MediaLimitTests(LimitedMediaServer server) : IClassFixture<LimitedMediaServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    [Fact]
    public async Task An_upload_over_max_upload_size_is_413_M_TOO_LARGE()
    {
        var alice = await NewUserAsync();
        var (status, json) = await MediaTests.UploadAsync(alice, new byte[9 * 1024], "application/octet-stream");
        status.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        json.GetProperty("errcode").GetString().Should().Be("M_TOO_LARGE");

        // Without a Content-Length (chunked), the limit is enforced while reading.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_matrix/media/v3/upload");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", alice.AccessToken);
        request.Content = new StreamContent(new MemoryStream(new byte[9 * 1024]));
        request.Headers.TransferEncodingChunked = true;
        using var chunked = await alice.Http.SendAsync(request);
        chunked.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task The_daily_quota_is_M_RESOURCE_LIMIT_EXCEEDED_and_per_user()
    {
        var alice = await NewUserAsync();
        (await MediaTests.UploadAsync(alice, new byte[8000], "application/octet-stream")).Status.Should().Be(HttpStatusCode.OK);
        (await MediaTests.UploadAsync(alice, new byte[8001], "application/octet-stream")).Status.Should().Be(HttpStatusCode.OK);
        var (status, json) = await MediaTests.UploadAsync(alice, new byte[8002], "application/octet-stream");
        status.Should().Be(HttpStatusCode.BadRequest);
        json.GetProperty("errcode").GetString().Should().Be("M_RESOURCE_LIMIT_EXCEEDED");

        var bob = await NewUserAsync();
        (await MediaTests.UploadAsync(bob, new byte[8002], "application/octet-stream")).Status.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Images_over_max_image_pixels_are_not_decoded()
    {
        var alice = await NewUserAsync();
        var png = TestImages.Make(350, 350, SKEncodedImageFormat.Png); // 122 500 pixels in a few KB
        var (_, json) = await MediaTests.UploadAsync(alice, png, "image/png");
        var response = await alice.GetAsync("/_matrix/client/v1/media/thumbnail/" + MediaTests.MediaPath(json.GetProperty("content_uri").GetString()!) + "?width=32&height=32");
        response.Status.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        response.ErrCode.Should().Be("M_TOO_LARGE");
    }

    [Fact]
    public async Task With_authenticated_media_on_the_deprecated_download_is_frozen()
    {
        var alice = await NewUserAsync();
        var (_, json) = await MediaTests.UploadAsync(alice, Encoding.UTF8.GetBytes("fresh"), "text/plain");
        var path = MediaTests.MediaPath(json.GetProperty("content_uri").GetString()!);
        (await alice.GetAsync("/_matrix/media/v3/download/" + path)).Status.Should().Be(HttpStatusCode.NotFound);
        (await alice.GetAsync("/_matrix/client/v1/media/download/" + path)).Status.Should().Be(HttpStatusCode.OK);
    }
}
