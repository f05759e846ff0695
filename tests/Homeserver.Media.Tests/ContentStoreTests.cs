using System.Security.Cryptography;
using Homeserver.Media;

namespace Homeserver.Media.Tests;

public sealed class ContentStoreTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("store-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Content_is_stored_once_under_its_sharded_hash()
    {
        var store = new ContentStore(_root);
        var bytes = "hello media"u8.ToArray();
        var (sha, length) = await store.WriteAsync(new MemoryStream(bytes), 1000, CancellationToken.None);
        sha.Should().Be(Convert.ToHexStringLower(SHA256.HashData(bytes)));
        length.Should().Be(bytes.Length);
        File.ReadAllBytes(Path.Combine(_root, "content", sha[..2], sha[2..4], sha)).Should().Equal(bytes);
        (await store.WriteAsync(new MemoryStream(bytes), 1000, CancellationToken.None)).Sha256.Should().Be(sha);
        Directory.GetFiles(_root, "*", SearchOption.AllDirectories).Should().ContainSingle("duplicates and temp files are not kept");
    }

    [Fact]
    public async Task Too_large_content_leaves_nothing_behind()
    {
        var store = new ContentStore(_root);
        var act = () => store.WriteAsync(new MemoryStream(new byte[2000]), 1000, CancellationToken.None);
        await act.Should().ThrowAsync<ContentTooLargeException>();
        Directory.GetFiles(_root, "*", SearchOption.AllDirectories).Should().BeEmpty();
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("ABCDEF")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeX")]
    public void Only_hex_digests_name_files(string bad)
    {
        var act = () => new ContentStore(_root).PathOf(bad);
        act.Should().Throw<ArgumentException>();
    }
}
