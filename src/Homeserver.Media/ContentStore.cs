using System.Security.Cryptography;

namespace Homeserver.Media;

/// <summary>The upload was larger than allowed (the partial file has been removed).</summary>
public sealed class ContentTooLargeException(long limit) : Exception($"content larger than {limit} bytes")
{
    public long Limit { get; } = limit;
}

/// <summary>
/// The media bytes on the local filesystem, content-addressed: a file is named by its SHA-256 and sharded into
/// <c>content/ab/cd/abcd…</c>, so identical uploads are stored once. Writes go to <c>tmp/</c> first and are renamed
/// into place once complete and flushed: a reader never sees a partial file, and a crash leaves only a temp file.
/// </summary>
public sealed class ContentStore
{
    private readonly string _content;
    private readonly string _temp;

    public ContentStore(string root)
    {
        Root = Path.GetFullPath(root);
        _content = Path.Combine(Root, "content");
        _temp = Path.Combine(Root, "tmp");
        Directory.CreateDirectory(_content);
        Directory.CreateDirectory(_temp);
    }

    public string Root { get; }

    /// <summary>The file for a hash. Only lowercase hex hashes are accepted, so no path can be injected.</summary>
    public string PathOf(string sha256)
    {
        if (sha256.Length != 64 || !sha256.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f')))
        {
            throw new ArgumentException("not a SHA-256 hex digest", nameof(sha256));
        }

        return Path.Combine(_content, sha256[..2], sha256[2..4], sha256);
    }

    public bool Exists(string sha256) => File.Exists(PathOf(sha256));

    public Stream OpenRead(string sha256) =>
        new FileStream(PathOf(sha256), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 64 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);

    /// <summary>Copies <paramref name="source"/> into the store, hashing as it goes; at most <paramref name="maxBytes"/>.</summary>
    public async Task<(string Sha256, long Length)> WriteAsync(Stream source, long maxBytes, CancellationToken ct)
    {
        var temp = Path.Combine(_temp, Guid.NewGuid().ToString("N"));
        long length = 0;
        string hash;
        try
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
            {
                var buffer = new byte[64 * 1024];
                int read;
                while ((read = await source.ReadAsync(buffer, ct)) > 0)
                {
                    length += read;
                    if (length > maxBytes)
                    {
                        throw new ContentTooLargeException(maxBytes);
                    }

                    sha.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), ct);
                }

                await file.FlushAsync(ct);
                file.Flush(flushToDisk: true);
            }

            hash = Convert.ToHexStringLower(sha.GetHashAndReset());
            var target = PathOf(hash);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (File.Exists(target))
            {
                File.Delete(temp);
            }
            else
            {
                // Atomic within one filesystem; a concurrent identical upload may win the race, which is fine.
                File.Move(temp, target, overwrite: true);
            }
        }
        catch
        {
            TryDelete(temp);
            throw;
        }

        return (hash, length);
    }

    public Task<(string Sha256, long Length)> WriteAsync(byte[] bytes, CancellationToken ct) =>
        WriteAsync(new MemoryStream(bytes, writable: false), long.MaxValue, ct);

    public void Delete(string sha256) => TryDelete(PathOf(sha256));

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: a leftover is cleaned the next time.
        }
    }
}
