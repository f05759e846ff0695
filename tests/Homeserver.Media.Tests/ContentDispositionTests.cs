using Homeserver.Media;

namespace Homeserver.Media.Tests;

public sealed class ContentDispositionTests
{
    [Theory]
    [InlineData("image/png", null, "inline")]
    [InlineData("IMAGE/PNG; foo=bar", null, "inline")]
    [InlineData("text/html", null, "attachment")]
    [InlineData("image/svg+xml", "a.svg", "attachment; filename=a.svg")]
    [InlineData("application/javascript", "x.js", "attachment; filename=x.js")]
    [InlineData("text/plain", "ascii", "inline; filename=ascii")]
    [InlineData("text/plain", "with space.txt", "inline; filename*=utf-8''with%20space.txt")]
    [InlineData("text/plain", "\U0001F414", "inline; filename*=utf-8''%F0%9F%90%94")]
    [InlineData("text/plain", "quote\".txt", "inline; filename*=utf-8''quote%22.txt")]
    [InlineData(null, "file.bin", "attachment; filename=file.bin")]
    public void Only_safe_types_are_inline_and_names_are_encoded(string? type, string? name, string expected) =>
        ContentDisposition.Header(type, name).Should().Be(expected);

    [Theory]
    [InlineData(null, "application/octet-stream")]
    [InlineData("", "application/octet-stream")]
    [InlineData("text/plain", "text/plain; charset=UTF-8")]
    [InlineData("text/plain; charset=ISO-8859-1", "text/plain; charset=ISO-8859-1")]
    [InlineData("image/png", "image/png")]
    [InlineData("not a type", "application/octet-stream")]
    [InlineData("text/html\r\nX-Injected: 1", "application/octet-stream")]
    public void Response_types_are_the_stored_ones_when_plausible(string? stored, string expected) =>
        ContentDisposition.ResponseContentType(stored).Should().Be(expected);
}
