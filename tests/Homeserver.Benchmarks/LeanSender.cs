using System.Buffers.Text;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Homeserver.Benchmarks;

/// <summary>
/// A lean load generator for the send phases (<c>HS_BENCH_CLIENT=lean</c>): one keep-alive HTTP/1.1 connection per
/// sender, each request written as one buffer and each answer read straight from the socket, as wrk or h2load do.
/// The server and the load generator share this machine's two cores: HttpClient spends CPU per request (its handler
/// pipeline, header collections, content streams) that a client on another machine would not take from the server.
/// The answer is checked as HttpClient's is: a 200 with the event's ID in its JSON, or the send fails.
/// </summary>
internal sealed class LeanSender : IDisposable
{
    private static readonly byte[] HeaderEnd = "\r\n\r\n"u8.ToArray();
    private static readonly byte[] LineEnd = "\r\n"u8.ToArray();
    private readonly Socket _socket;
    private readonly string _requestStart;
    private readonly string _requestHeaders;
    private readonly byte[] _request = new byte[4096];
    private readonly byte[] _buffer = new byte[16384];
    private int _start;
    private int _end;

    private LeanSender(Socket socket, Uri server, string roomId, string accessToken)
    {
        _socket = socket;
        _requestStart = $"PUT /_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/send/m.room.message/";
        _requestHeaders = $" HTTP/1.1\r\nHost: {server.Authority}\r\nAuthorization: Bearer {accessToken}\r\nContent-Type: application/json\r\nContent-Length: ";
    }

    public static async Task<LeanSender> ConnectAsync(Uri server, string roomId, string accessToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.Host, server.Port);
        return new LeanSender(socket, server, roomId, accessToken);
    }

    /// <summary>PUT /send of one text message with transaction ID <paramref name="txnId"/>; returns the event ID.</summary>
    public async Task<string> SendAsync(string txnId, string body)
    {
        var json = $$"""{"msgtype":"m.text","body":{{JsonSerializer.Serialize(body)}}}""";
        var text = string.Concat(_requestStart, txnId, _requestHeaders, Encoding.UTF8.GetByteCount(json).ToString(CultureInfo.InvariantCulture), "\r\n\r\n", json);
        var length = Encoding.UTF8.GetBytes(text, _request);
        await _socket.SendAsync(_request.AsMemory(0, length));

        var headerEnd = await ReadUntilAsync(HeaderEnd);
        var head = Encoding.ASCII.GetString(_buffer, _start, headerEnd - _start);
        _start = headerEnd + HeaderEnd.Length;
        var status = head.Length > 12 ? head[9..12] : string.Empty;
        var contentLength = -1;
        var chunked = false;
        foreach (var line in head.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                contentLength = int.Parse(line.AsSpan(15).Trim(), CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase) && line.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                chunked = true;
            }
        }

        var content = chunked ? await ReadChunkedAsync() : await ReadBytesAsync(contentLength);
        if (status != "200")
        {
            throw new InvalidOperationException($"PUT /send answered {status}: {Encoding.UTF8.GetString(content)}");
        }

        using var doc = JsonDocument.Parse(content);
        return doc.RootElement.GetProperty("event_id").GetString()!;
    }

    public void Dispose() => _socket.Dispose();

    private async Task<byte[]> ReadChunkedAsync()
    {
        var content = new List<byte>();
        while (true)
        {
            var lineEnd = await ReadUntilAsync(LineEnd);
            if (!Utf8Parser.TryParse(_buffer.AsSpan(_start, lineEnd - _start), out int size, out _, 'x'))
            {
                throw new InvalidOperationException("bad chunk size");
            }

            _start = lineEnd + LineEnd.Length;
            content.AddRange(await ReadBytesAsync(size));
            await ReadBytesAsync(2); // the chunk's CRLF
            if (size == 0)
            {
                return [.. content];
            }
        }
    }

    private async Task<byte[]> ReadBytesAsync(int count)
    {
        if (count < 0)
        {
            throw new InvalidOperationException("an answer without a length");
        }

        while (_end - _start < count)
        {
            await FillAsync();
        }

        var bytes = _buffer.AsSpan(_start, count).ToArray();
        _start += count;
        return bytes;
    }

    /// <summary>Reads until <paramref name="marker"/> is buffered; returns where it starts.</summary>
    private async Task<int> ReadUntilAsync(byte[] marker)
    {
        while (true)
        {
            var at = _buffer.AsSpan(_start, _end - _start).IndexOf(marker);
            if (at >= 0)
            {
                return _start + at;
            }

            await FillAsync();
        }
    }

    private async Task FillAsync()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            throw new InvalidOperationException("an answer larger than the buffer");
        }

        var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end));
        if (read == 0)
        {
            throw new InvalidOperationException("the server closed the connection");
        }

        _end += read;
    }
}
