using System.Net;
using Homeserver.Core.Configuration;
using Homeserver.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using SkiaSharp;

namespace Homeserver.Host.Tests;

/// <summary>A web site on loopback serving an Open Graph page and its image, counting the requests it gets.</summary>
public sealed class TestWebSite : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private TestWebSite(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public int Requests => Volatile.Read(ref _requests);

    public byte[] Image { get; } = TestImages.Make(279, 129, SKEncodedImageFormat.Png);

    public static async Task<TestWebSite> StartAsync()
    {
        var port = TestServer.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.IPv6Any, port));
        var app = builder.Build();
        var site = new TestWebSite(app, port);
        app.Use(async (context, next) =>
        {
            Interlocked.Increment(ref site._requests);
            await next(context);
        });
        app.MapGet("/test.html", () => Results.Content("""
            <html prefix="og: http://ogp.me/ns#"><head>
            <title>The Rock (1996)</title>
            <meta property="og:title" content="The Rock" />
            <meta property="og:type" content="video.movie" />
            <meta property="og:url" content="http://www.imdb.com/title/tt0117500/" />
            <meta property="og:image" content="test.png" />
            <meta name="description" content="An &quot;action&quot; film">
            </head><body></body></html>
            """, "text/html"));
        app.MapGet("/test.png", () => Results.Bytes(site.Image, "image/png"));
        await app.StartAsync();
        return site;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>URL previews on, with the default deny-list (private and loopback ranges).</summary>
public sealed class PreviewDenyingServer : TestServer
{
    protected override HomeserverConfig Configure(HomeserverConfig config) => config with
    {
        Media = config.Media with
        {
            UrlPreviewEnabled = true,
            UrlPreviewIpRangeBlacklist = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fe80::/10", "fc00::/7", "::ffff:0:0/96"],
        },
    };
}

/// <summary>URL previews on with an empty deny-list (as SyTest runs them).</summary>
public sealed class PreviewAllowingServer : TestServer
{
    protected override HomeserverConfig Configure(HomeserverConfig config) => config with
    {
        Media = config.Media with { UrlPreviewEnabled = true, UrlPreviewIpRangeBlacklist = [] },
    };
}

public sealed class UrlPreviewDenyTests(PreviewDenyingServer server) : IClassFixture<PreviewDenyingServer>
{
    [Theory]
    [InlineData("http://127.0.0.1:{port}/test.html", HttpStatusCode.Forbidden)]
    [InlineData("http://[::1]:{port}/test.html", HttpStatusCode.Forbidden)]
    [InlineData("http://localhost:{port}/test.html", HttpStatusCode.BadGateway)]
    public async Task Loopback_urls_are_refused_even_through_a_dns_name(string url, HttpStatusCode expected)
    {
        await using var site = await TestWebSite.StartAsync();
        var alice = await new MatrixClient(server.Client).RegisterAsync();
        var response = await alice.GetAsync("/_matrix/client/v1/media/preview_url?url=" + Uri.EscapeDataString(url.Replace("{port}", site.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)));
        response.Status.Should().Be(expected);
        response.ErrCode.Should().Be("M_UNKNOWN");
        site.Requests.Should().Be(0, "no connection may reach a denied address");
    }

    [Theory]
    [InlineData("ftp://example.com/file")]
    [InlineData("not a url")]
    [InlineData("/relative/path")]
    public async Task Urls_that_are_not_http_are_invalid(string url)
    {
        var alice = await new MatrixClient(server.Client).RegisterAsync();
        var response = await alice.GetAsync("/_matrix/client/v1/media/preview_url?url=" + Uri.EscapeDataString(url));
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_INVALID_PARAM");
    }
}

public sealed class UrlPreviewTests(PreviewAllowingServer server) : IClassFixture<PreviewAllowingServer>
{
    [Fact]
    public async Task A_page_preview_has_its_open_graph_data_and_its_image_stored_as_media()
    {
        await using var site = await TestWebSite.StartAsync();
        var alice = await new MatrixClient(server.Client).RegisterAsync();
        var url = $"http://127.0.0.1:{site.Port}/test.html";
        var og = (await alice.GetAsync("/_matrix/media/v3/preview_url?url=" + Uri.EscapeDataString(url))).EnsureOk().Json;
        og.GetProperty("og:title").GetString().Should().Be("The Rock");
        og.GetProperty("og:type").GetString().Should().Be("video.movie");
        og.GetProperty("og:url").GetString().Should().Be("http://www.imdb.com/title/tt0117500/");
        og.GetProperty("og:description").GetString().Should().Be("An \"action\" film");
        og.GetProperty("matrix:image:size").GetInt64().Should().Be(site.Image.Length);
        og.GetProperty("og:image:width").GetInt32().Should().Be(279);
        og.GetProperty("og:image:height").GetInt32().Should().Be(129);
        var mxc = og.GetProperty("og:image").GetString()!;
        mxc.Should().StartWith("mxc://" + server.ServerName + "/");
        var image = await alice.Http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/_matrix/client/v1/media/download/" + mxc["mxc://".Length..])
        {
            Headers = { Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", alice.AccessToken) },
        });
        (await image.Content.ReadAsByteArrayAsync()).Should().Equal(site.Image);

        // A second preview of the same URL comes from the cache.
        var before = site.Requests;
        (await alice.GetAsync("/_matrix/client/v1/media/preview_url?url=" + Uri.EscapeDataString(url))).EnsureOk().Json
            .GetProperty("og:title").GetString().Should().Be("The Rock");
        site.Requests.Should().Be(before);
    }

    [Fact]
    public async Task An_image_url_is_previewed_as_its_image()
    {
        await using var site = await TestWebSite.StartAsync();
        var alice = await new MatrixClient(server.Client).RegisterAsync();
        var og = (await alice.GetAsync("/_matrix/client/v1/media/preview_url?url=" + Uri.EscapeDataString($"http://localhost:{site.Port}/test.png"))).EnsureOk().Json;
        og.GetProperty("og:image:type").GetString().Should().Be("image/png");
        og.GetProperty("matrix:image:size").GetInt64().Should().Be(site.Image.Length);
    }
}

public sealed class UrlPreviewOffTests(TestServer server) : IClassFixture<TestServer>
{
    [Fact]
    public async Task Previews_are_off_by_default()
    {
        var alice = await new MatrixClient(server.Client).RegisterAsync();
        var response = await alice.GetAsync("/_matrix/client/v1/media/preview_url?url=" + Uri.EscapeDataString("http://example.com/"));
        response.Status.Should().Be(HttpStatusCode.NotFound);
        response.ErrCode.Should().Be("M_UNRECOGNIZED");
    }
}
