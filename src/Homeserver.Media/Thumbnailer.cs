using SkiaSharp;

namespace Homeserver.Media;

/// <summary>What the image header says, read without decoding pixels.</summary>
public sealed record ImageProbe(int Width, int Height, int FrameCount, string Format)
{
    public bool IsAnimated => FrameCount > 1;

    public long Pixels => (long)Width * Height;
}

/// <summary>An encoded thumbnail.</summary>
public sealed record ThumbnailImage(byte[] Bytes, string MediaType, int Width, int Height);

/// <summary>The image has more pixels than <c>max_image_pixels</c> allows (a possible decompression bomb).</summary>
public sealed class ImageTooLargeException(long pixels, long limit) : Exception($"image has {pixels} pixels, more than {limit}");

/// <summary>
/// Thumbnails with SkiaSharp ("Thumbnails"): <c>scale</c> fits the image in the requested box keeping its aspect,
/// <c>crop</c> fills the box's aspect and cuts the overflow; neither ever enlarges the image. Only JPEG, PNG, GIF and
/// WebP are opened (each decoder is attack surface). The pixel count is checked from the header before anything is
/// decoded, JPEGs are decoded at a reduced scale when the thumbnail is much smaller, the EXIF orientation is applied,
/// and animated images give their first frame. Output: JPEG for JPEG and WebP sources, PNG for PNG and GIF (which may
/// have transparency), as Synapse does.
/// </summary>
public static class Thumbnailer
{
    private static readonly IReadOnlySet<string> Thumbnailable = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "image/jpeg", "image/jpg", "image/png", "image/gif", "image/webp",
    };

    /// <summary>Whether media of this type can be thumbnailed at all.</summary>
    public static bool CanThumbnail(string? mediaType) => mediaType is not null && Thumbnailable.Contains(ContentDisposition.Essence(mediaType));

    /// <summary>The thumbnail type for a source type.</summary>
    public static string OutputType(string mediaType) => ContentDisposition.Essence(mediaType) switch
    {
        "image/png" or "image/gif" => "image/png",
        _ => "image/jpeg",
    };

    /// <summary>Reads the header; null when the bytes are not an image we decode.</summary>
    public static ImageProbe? Probe(string path)
    {
        using var codec = SKCodec.Create(path);
        if (codec is null)
        {
            return null;
        }

        var format = codec.EncodedFormat switch
        {
            SKEncodedImageFormat.Jpeg => "image/jpeg",
            SKEncodedImageFormat.Png => "image/png",
            SKEncodedImageFormat.Gif => "image/gif",
            SKEncodedImageFormat.Webp => "image/webp",
            _ => null,
        };
        if (format is null)
        {
            return null;
        }

        var (w, h) = IsTransposed(codec.EncodedOrigin) ? (codec.Info.Height, codec.Info.Width) : (codec.Info.Width, codec.Info.Height);
        return new ImageProbe(w, h, Math.Max(1, codec.FrameCount), format);
    }

    /// <summary>The size a thumbnail of an image of (<paramref name="srcW"/>, <paramref name="srcH"/>) will have.</summary>
    public static (int Width, int Height) TargetSize(int srcW, int srcH, int reqW, int reqH, string method)
    {
        reqW = Math.Max(1, reqW);
        reqH = Math.Max(1, reqH);
        if (method == "crop")
        {
            // The requested aspect, as large as asked but no larger than the image allows without upscaling.
            var w = (double)reqW;
            var h = (double)reqH;
            var shrink = Math.Min(1.0, Math.Min(srcW / w, srcH / h));
            return (Math.Max(1, (int)Math.Floor(w * shrink)), Math.Max(1, (int)Math.Floor(h * shrink)));
        }

        // Scale: the largest size with the image's aspect that fits in the box, never larger than the image.
        int tw, th;
        if ((long)reqW * srcH < (long)reqH * srcW)
        {
            tw = reqW;
            th = (int)Math.Max(1, (long)reqW * srcH / srcW);
        }
        else
        {
            tw = (int)Math.Max(1, (long)reqH * srcW / srcH);
            th = reqH;
        }

        return (Math.Min(tw, srcW), Math.Min(th, srcH));
    }

    /// <summary>Makes a thumbnail of exactly (<paramref name="width"/>, <paramref name="height"/>) from the image at <paramref name="path"/>.</summary>
    public static ThumbnailImage Generate(string path, int width, int height, string method, string outputType, long maxPixels)
    {
        using var codec = SKCodec.Create(path) ?? throw new InvalidDataException("not a decodable image");
        var pixels = (long)codec.Info.Width * codec.Info.Height;
        if (pixels > maxPixels)
        {
            throw new ImageTooLargeException(pixels, maxPixels);
        }

        var origin = codec.EncodedOrigin;
        var transposed = IsTransposed(origin);
        var (srcW, srcH) = transposed ? (codec.Info.Height, codec.Info.Width) : (codec.Info.Width, codec.Info.Height);

        // Decode at a reduced scale when the codec supports it (JPEG) and the thumbnail is much smaller.
        var needed = Math.Max((double)width / srcW, (double)height / srcH);
        var scaled = codec.GetScaledDimensions((float)Math.Clamp(needed * 1.5, 0.01, 1.0));
        var decodeInfo = new SKImageInfo(scaled.Width, scaled.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var decoded = new SKBitmap(decodeInfo);
        var result = codec.GetPixels(decodeInfo, decoded.GetPixels());
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
        {
            decodeInfo = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
            decoded.Reset();
            if (!decoded.TryAllocPixels(decodeInfo) || codec.GetPixels(decodeInfo, decoded.GetPixels()) is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
            {
                throw new InvalidDataException($"cannot decode image: {result}");
            }
        }

        using var source = SKImage.FromBitmap(decoded);
        using var rotated = origin == SKEncodedOrigin.TopLeft ? null : Orient(source, origin);
        var oriented = rotated ?? source;
        var (ow, oh) = (oriented.Width, oriented.Height);

        // The source rectangle: all of it for scale; the centred part with the target's aspect for crop.
        var src = new SKRect(0, 0, ow, oh);
        if (method == "crop")
        {
            var targetAspect = (double)width / height;
            if ((double)ow / oh > targetAspect)
            {
                var cropW = (float)(oh * targetAspect);
                src = new SKRect((ow - cropW) / 2, 0, (ow + cropW) / 2, oh);
            }
            else
            {
                var cropH = (float)(ow / targetAspect);
                src = new SKRect(0, (oh - cropH) / 2, ow, (oh + cropH) / 2);
            }
        }

        var jpeg = outputType == "image/jpeg";
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, jpeg ? SKAlphaType.Opaque : SKAlphaType.Premul);
        using var surface = SKSurface.Create(info) ?? throw new InvalidOperationException("cannot allocate a thumbnail surface");
        var canvas = surface.Canvas;
        canvas.Clear(jpeg ? SKColors.White : SKColors.Transparent);
        using (var paint = new SKPaint())
        {
            canvas.DrawImage(oriented, src, new SKRect(0, 0, width, height), new SKSamplingOptions(SKCubicResampler.Mitchell), paint);
        }

        using var snapshot = surface.Snapshot();
        using var data = snapshot.Encode(jpeg ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png, 80)
            ?? throw new InvalidOperationException("cannot encode the thumbnail");
        return new ThumbnailImage(data.ToArray(), outputType, width, height);
    }

    private static bool IsTransposed(SKEncodedOrigin origin) =>
        origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;

    /// <summary>Applies a (non-identity) EXIF orientation: the returned image is upright.</summary>
    private static SKImage Orient(SKImage image, SKEncodedOrigin origin)
    {
        float w = image.Width, h = image.Height;
        var transposed = IsTransposed(origin);
        // x' = ScaleX*x + SkewX*y + TransX; y' = SkewY*x + ScaleY*y + TransY
        var m = origin switch
        {
            SKEncodedOrigin.TopRight => new SKMatrix(-1, 0, w, 0, 1, 0, 0, 0, 1),
            SKEncodedOrigin.BottomRight => new SKMatrix(-1, 0, w, 0, -1, h, 0, 0, 1),
            SKEncodedOrigin.BottomLeft => new SKMatrix(1, 0, 0, 0, -1, h, 0, 0, 1),
            SKEncodedOrigin.LeftTop => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),
            SKEncodedOrigin.RightTop => new SKMatrix(0, -1, h, 1, 0, 0, 0, 0, 1),
            SKEncodedOrigin.RightBottom => new SKMatrix(0, -1, h, -1, 0, w, 0, 0, 1),
            SKEncodedOrigin.LeftBottom => new SKMatrix(0, 1, 0, -1, 0, w, 0, 0, 1),
            _ => SKMatrix.Identity,
        };
        var info = new SKImageInfo(transposed ? image.Height : image.Width, transposed ? image.Width : image.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var surface = SKSurface.Create(info) ?? throw new InvalidOperationException("cannot allocate an orientation surface");
        surface.Canvas.SetMatrix(m);
        surface.Canvas.DrawImage(image, 0, 0, new SKSamplingOptions(SKFilterMode.Nearest), null);
        return surface.Snapshot();
    }
}
