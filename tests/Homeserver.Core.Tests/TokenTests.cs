using Homeserver.Core.Streams;

namespace Homeserver.Core.Tests;

/// <summary>The sync and pagination tokens are on the wire and in clients' storage: their format is frozen.</summary>
public sealed class TokenTests
{
    [Fact]
    public void A_sync_token_is_written_as_s1_stream_typing()
    {
        new SyncToken(42, 1_700_000_000_123).ToString().Should().Be("s1_42_1700000000123");
    }

    [Theory]
    [InlineData("s1_0_0", 0, 0)]
    [InlineData("s1_42_1700000000123", 42, 1_700_000_000_123)]
    [InlineData("s1_9223372036854775807_1", long.MaxValue, 1)]
    public void A_sync_token_parses_back_to_its_positions(string text, long stream, long typing)
    {
        SyncToken.TryParse(text, out var token).Should().BeTrue();
        token.Should().Be(new SyncToken(stream, typing));
        token.ToString().Should().Be(text);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("s1_")]
    [InlineData("s1_1")]
    [InlineData("s1_1_2_3")]
    [InlineData("s2_1_2")]
    [InlineData("s1_-1_2")]
    [InlineData("s1_+1_2")]
    [InlineData("s1_1_x")]
    [InlineData("s1_99999999999999999999_1")]
    [InlineData("t1-2")]
    public void A_malformed_sync_token_is_refused(string? text)
    {
        SyncToken.TryParse(text, out _).Should().BeFalse();
    }

    [Theory]
    [InlineData("s17", null, 17)]
    [InlineData("t5-17", 5L, 17)]
    [InlineData("t5--3", 5L, -3)]
    [InlineData("s1_17_3", null, 17)]
    public void A_pagination_token_accepts_stream_topological_and_sync_forms(string text, long? topological, long stream)
    {
        PaginationToken.TryParse(text, out var token).Should().BeTrue();
        token.Should().Be(new PaginationToken(topological, stream));
    }

    [Fact]
    public void A_pagination_token_is_written_as_synapse_writes_it()
    {
        new PaginationToken(null, 17).ToString().Should().Be("s17");
        new PaginationToken(5, 17).ToString().Should().Be("t5-17");
        new PaginationToken(5, -3).ToString().Should().Be("t5--3");
    }

    [Theory]
    [InlineData("t-5-3")]
    [InlineData("t5-")]
    [InlineData("t5-+")]
    [InlineData("s-3")]
    public void A_malformed_pagination_token_is_refused(string text)
    {
        PaginationToken.TryParse(text, out _).Should().BeFalse();
    }
}
