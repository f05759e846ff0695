using Homeserver.Core;

namespace Homeserver.Core.Tests;

public sealed class MatrixIdTests
{
    public static TheoryData<string, bool> ServerNames => new()
    {
        { "matrix.org", true },
        { "matrix.org:8888", true },
        { "1.2.3.4", true },
        { "1.2.3.4:1234", true },
        { "[1234:5678::abcd]", true },
        { "[1234:5678::abcd]:5678", true },
        { "localhost:8800", true },
        { "", false },
        { "matrix.org:", false },
        { "matrix.org:0", false },
        { "matrix.org:65536", false },
        { "matrix.org:123456", false },
        { "[1234:5678::abcd", false },
        { "[1.2.3.4]", false },
        { "300.2.3.4", false },
        { "under_score.org", false },
        { "sp ace.org", false },
    };

    [Theory]
    [MemberData(nameof(ServerNames))]
    public void Server_names_follow_the_spec_grammar(string name, bool valid) =>
        ServerName.IsValid(name).Should().Be(valid);

    [Theory]
    [InlineData("@alice:example.org", true)]
    [InlineData("@Alice_Legacy:example.org", true)]
    [InlineData("@alice:localhost:8800", true)]
    [InlineData("alice:example.org", false)]
    [InlineData("@alice", false)]
    [InlineData("@alice:bad host", false)]
    public void User_ids_are_checked_with_the_historical_grammar(string id, bool valid) =>
        MatrixId.IsValidUserId(id).Should().Be(valid);

    [Theory]
    [InlineData("alice", true)]
    [InlineData("a.b_c=d/e+f-9", true)]
    [InlineData("Alice", false)]
    [InlineData("", false)]
    [InlineData("al:ice", false)]
    [InlineData("ålice", false)]
    public void New_localparts_use_the_strict_grammar(string localpart, bool valid) =>
        MatrixId.IsValidNewLocalpart(localpart).Should().Be(valid);

    [Fact]
    public void Server_name_with_port_splits_at_the_last_colon()
    {
        ServerName.Split("localhost:8800").Should().Be(("localhost", (int?)8800));
        ServerName.Split("[::1]:8448").Should().Be(("::1", (int?)8448));
        ServerName.Split("example.org").Should().Be(("example.org", (int?)null));
    }

    [Fact]
    public void Every_room_version_from_1_to_12_is_known()
    {
        RoomVersion.All.Select(v => v.Id).Should().Equal("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12");
        RoomVersion.Find("12")!.RoomIdIsCreateEventHash.Should().BeTrue();
        RoomVersion.Find("11")!.RoomIdIsCreateEventHash.Should().BeFalse();
        RoomVersion.Find("13").Should().BeNull();
    }
}
