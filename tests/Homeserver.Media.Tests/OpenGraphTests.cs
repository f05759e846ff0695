using Homeserver.Media;

namespace Homeserver.Media.Tests;

public sealed class OpenGraphTests
{
    private static readonly Uri Page = new("https://example.org/films/rock.html");

    [Fact]
    public void Og_properties_are_read_and_the_image_made_absolute()
    {
        var og = OpenGraph.Parse("""
            <html><head><title>Ignored title</title>
            <meta property="og:title" content="The Rock" />
            <META PROPERTY='og:type' CONTENT='video.movie'>
            <meta property="og:image" content="../img/rock.png">
            <meta content="A film &amp; more" property="og:description">
            </head></html>
            """, Page);
        og["og:title"].Should().Be("The Rock");
        og["og:type"].Should().Be("video.movie");
        og["og:image"].Should().Be("https://example.org/img/rock.png");
        og["og:description"].Should().Be("A film & more");
    }

    [Fact]
    public void Title_and_description_fall_back_to_the_page()
    {
        var og = OpenGraph.Parse("<title>\n  Plain   page </title><meta name=\"description\" content=\"" + new string('x', 800) + "\">", Page);
        og["og:title"].Should().Be("Plain page");
        og["og:description"].Should().HaveLength(OpenGraph.MaxDescriptionLength);
    }

    [Fact]
    public void Non_http_images_are_dropped_and_garbage_gives_nothing()
    {
        OpenGraph.Parse("""<meta property="og:image" content="javascript:alert(1)">""", Page).Should().NotContainKey("og:image");
        OpenGraph.Parse("<<<<meta meta <title", Page).Should().BeEmpty();
    }

    [Fact]
    public void Huge_hostile_pages_parse_in_linear_time()
    {
        var html = string.Concat(Enumerable.Repeat("<meta property=\"og:x\" content=\"", 20_000));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        OpenGraph.Parse(html, Page);
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
    }
}
