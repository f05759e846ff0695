using System.Buffers;
using System.Text.Json;
using Homeserver.Core;
using Microsoft.AspNetCore.Http;

namespace Homeserver.Http;

/// <summary>Reads request bodies as JSON: not JSON gives <c>M_NOT_JSON</c>, the wrong shape <c>M_BAD_JSON</c>, too big <c>M_TOO_LARGE</c>.</summary>
public static class JsonBody
{
    /// <summary>The largest JSON body we read (events are limited to 64 KiB; some requests, e.g. key uploads, are bigger).</summary>
    public const int DefaultMaxBytes = 1024 * 1024;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 100, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>Reads the body as a JSON object. An empty body counts as <c>{}</c> when <paramref name="emptyIsEmptyObject"/>.</summary>
    public static async Task<JsonElement> ReadObjectAsync(HttpContext context, bool emptyIsEmptyObject = false, int maxBytes = DefaultMaxBytes)
    {
        var bytes = await ReadBytesAsync(context, maxBytes);
        if (bytes.Length == 0 || IsWhitespace(bytes))
        {
            if (emptyIsEmptyObject)
            {
                return JsonDocument.Parse("{}").RootElement;
            }

            throw MatrixException.NotJson("Content not JSON.");
        }

        // JsonDocument does not validate UTF-8 inside strings; invalid bytes would fail later, when a string is read.
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
        {
            throw MatrixException.NotJson("Content is not valid UTF-8.");
        }

        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(bytes, DocumentOptions);
            root = doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw MatrixException.NotJson("Content not JSON.");
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("Content must be a JSON object.");
        }

        return root;
    }

    public static async Task<byte[]> ReadBytesAsync(HttpContext context, int maxBytes)
    {
        var request = context.Request;
        if (request.ContentLength > maxBytes)
        {
            throw MatrixException.TooLarge("Request body too large");
        }

        // A body of known length up to 64 KB is read straight into an array of that size (asking the writer below for
        // 4 KB of room made every small request allocate 4 KB and copy it again, a large share of a busy room's
        // allocations). A larger declared length grows the buffer as bytes arrive: a client that announces megabytes
        // and sends nothing must not make us hold them.
        if (request.ContentLength is { } length and <= 65536)
        {
            var body = new byte[length];
            var filled = 0;
            while (filled < body.Length)
            {
                var count = await request.Body.ReadAsync(body.AsMemory(filled), context.RequestAborted);
                if (count == 0)
                {
                    return body[..filled];
                }

                filled += count;
            }

            return body;
        }

        var writer = new ArrayBufferWriter<byte>(4096);
        while (true)
        {
            var memory = writer.GetMemory(4096);
            var read = await request.Body.ReadAsync(memory, context.RequestAborted);
            if (read == 0)
            {
                break;
            }

            writer.Advance(read);
            if (writer.WrittenCount > maxBytes)
            {
                throw MatrixException.TooLarge("Request body too large");
            }
        }

        return writer.WrittenSpan.ToArray();
    }

    private static bool IsWhitespace(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return true;
    }
}
