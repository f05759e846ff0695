using System.Buffers;

namespace Homeserver.Crypto;

/// <summary>
/// A growable byte buffer on <see cref="ArrayPool{T}.Shared"/>: the scratch space canonical JSON is written into
/// before it is hashed, signed or copied out, so that hashing an event allocates nothing per call.
/// </summary>
internal sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer;
    private int _written;

    public PooledBufferWriter(int initialCapacity = 1024)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialCapacity, 256));
    }

    public int WrittenCount => _written;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);

    public byte[] ToArray() => WrittenSpan.ToArray();

    public void Clear() => _written = 0;

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (_written + count > _buffer.Length)
        {
            throw new InvalidOperationException("Advanced past the end of the buffer.");
        }

        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    public void Write(byte value)
    {
        if (_written == _buffer.Length)
        {
            Grow(1);
        }

        _buffer[_written++] = value;
    }

    public void Write(ReadOnlySpan<byte> value)
    {
        if (_buffer.Length - _written < value.Length)
        {
            Grow(value.Length);
        }

        value.CopyTo(_buffer.AsSpan(_written));
        _written += value.Length;
    }

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        _written = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void Ensure(int sizeHint)
    {
        if (sizeHint < 1)
        {
            sizeHint = 1;
        }

        if (_buffer.Length - _written < sizeHint)
        {
            Grow(sizeHint);
        }
    }

    private void Grow(int needed)
    {
        ObjectDisposedException.ThrowIf(_buffer.Length == 0, this);
        var newSize = Math.Max(checked(_written + needed), checked(_buffer.Length * 2));
        var bigger = ArrayPool<byte>.Shared.Rent(newSize);
        _buffer.AsSpan(0, _written).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }
}
