using Homeserver.Media;
using SkiaSharp;

namespace Homeserver.Media.Tests;

public sealed class ThumbnailerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("thumbs-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(byte[] bytes, string name)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Image(int w, int h, SKEncodedImageFormat format)
    {
        using var surface = SKSurface.Create(new SKImageInfo(w, h));
        surface.Canvas.Clear(SKColors.Green);
        using var image = surface.Snapshot();
        using var data = image.Encode(format, 90);
        return data.ToArray();
    }

    [Theory]
    [InlineData(1000, 500, 320, 240, "scale", 320, 160)]
    [InlineData(500, 1000, 320, 240, "scale", 120, 240)]
    [InlineData(100, 50, 320, 240, "scale", 100, 50)]
    [InlineData(1000, 500, 96, 96, "crop", 96, 96)]
    [InlineData(50, 80, 96, 96, "crop", 50, 50)]
    [InlineData(1024, 768, 2000, 500, "crop", 1024, 256)]
    [InlineData(1, 1, 32, 32, "crop", 1, 1)]
    public void Target_sizes_never_exceed_the_image(int sw, int sh, int rw, int rh, string method, int ew, int eh)
    {
        var (w, h) = Thumbnailer.TargetSize(sw, sh, rw, rh, method);
        (w, h).Should().Be((ew, eh));
        w.Should().BeLessThanOrEqualTo(sw);
        h.Should().BeLessThanOrEqualTo(sh);
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png, "image/png")]
    [InlineData(SKEncodedImageFormat.Jpeg, "image/jpeg")]
    [InlineData(SKEncodedImageFormat.Webp, "image/jpeg")]
    public void Images_are_probed_and_thumbnailed_to_the_exact_size(SKEncodedImageFormat format, string outputType)
    {
        var path = Write(Image(640, 480, format), "source");
        var probe = Thumbnailer.Probe(path)!;
        (probe.Width, probe.Height, probe.IsAnimated).Should().Be((640, 480, false));
        var thumb = Thumbnailer.Generate(path, 96, 96, "crop", Thumbnailer.OutputType(probe.Format), long.MaxValue);
        thumb.MediaType.Should().Be(outputType);
        using var codec = SKCodec.Create(new MemoryStream(thumb.Bytes));
        (codec.Info.Width, codec.Info.Height).Should().Be((96, 96));
    }

    [Fact]
    public void Decompression_bombs_are_refused_before_decoding()
    {
        var path = Write(Image(2000, 2000, SKEncodedImageFormat.Png), "bomb.png");
        var act = () => Thumbnailer.Generate(path, 32, 32, "scale", "image/png", maxPixels: 1_000_000);
        act.Should().Throw<ImageTooLargeException>();
    }

    [Fact]
    public void Non_images_are_not_probed()
    {
        Thumbnailer.Probe(Write("<html>not an image</html>"u8.ToArray(), "x.png")).Should().BeNull();
        Thumbnailer.CanThumbnail("image/svg+xml").Should().BeFalse();
        Thumbnailer.CanThumbnail("image/png; charset=binary").Should().BeTrue();
    }

    /// <summary>A two-frame 1x1 GIF (GIF89a, global palette, two image blocks).</summary>
    private static readonly byte[] AnimatedGif =
    [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF,
        0x21, 0xFF, 0x0B, 0x4E, 0x45, 0x54, 0x53, 0x43, 0x41, 0x50, 0x45, 0x32, 0x2E, 0x30, 0x03, 0x01, 0x00, 0x00, 0x00,
        0x21, 0xF9, 0x04, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00,
        0x21, 0xF9, 0x04, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x4C, 0x01, 0x00,
        0x3B,
    ];

    [Fact]
    public void Animated_gifs_are_seen_as_animated_and_thumbnail_their_first_frame_as_png()
    {
        var path = Write(AnimatedGif, "anim.gif");
        var probe = Thumbnailer.Probe(path)!;
        probe.Format.Should().Be("image/gif");
        probe.IsAnimated.Should().BeTrue();
        var thumb = Thumbnailer.Generate(path, 1, 1, "scale", Thumbnailer.OutputType(probe.Format), long.MaxValue);
        thumb.MediaType.Should().Be("image/png");
        thumb.Bytes.Take(4).Should().Equal(0x89, 0x50, 0x4E, 0x47);
    }
}
