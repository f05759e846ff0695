using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Sync.Tests;

public sealed class SyncFilterTests
{
    private static SyncFilter Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return SyncFilter.Parse(doc.RootElement.Clone());
    }

    public static TheoryData<string> Invalid => new()
    {
        "[]",
        """{"room": []}""",
        """{"room": {"timeline": {"limit": "ten"}}}""",
        """{"room": {"timeline": {"types": "m.room.message"}}}""",
        """{"room": {"timeline": {"types": [1]}}}""",
        """{"room": {"rooms": ["not-a-room"]}}""",
        """{"room": {"not_rooms": [null]}}""",
        """{"room": {"state": {"lazy_load_members": "yes"}}}""",
        """{"room": {"include_leave": 1}}""",
        """{"room": {"timeline": {"senders": ["alice"]}}}""",
        """{"presence": {"not_senders": ["@bob"]}}""",
        """{"room": {"timeline": {"contains_url": "true"}}}""",
        """{"event_format": "xml"}""",
        """{"event_fields": "content.body"}""",
        """{"account_data": 5}""",
        """{"room": {"ephemeral": {"rooms": [true]}}}""",
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void A_filter_of_the_wrong_shape_is_M_BAD_JSON(string json)
    {
        var act = () => Parse(json);
        act.Should().Throw<MatrixException>().Which.ErrorCode.Should().Be(MatrixErrorCode.BadJson);
    }

    [Fact]
    public void An_empty_filter_keeps_the_defaults_and_unknown_fields_are_allowed()
    {
        var filter = Parse("""{"future_field": {"x": 1}, "room": {"also_new": true}}""");
        filter.TimelineLimit.Should().Be(10);
        filter.LazyLoadMembers.Should().BeFalse();
        filter.IncludesRoom("!a:b").Should().BeTrue();
        filter.Timeline.Matches("m.room.message", "@a:b").Should().BeTrue();
    }

    [Fact]
    public void Every_field_is_read_from_its_place()
    {
        var filter = Parse("""
            {
              "presence": {"types": ["m.presence"], "limit": 3},
              "account_data": {"not_types": ["m.push_rules"]},
              "room": {
                "rooms": ["!a:x", "!b:x"], "not_rooms": ["!b:x"], "include_leave": true,
                "timeline": {"limit": 5.0, "types": ["m.room.*"], "not_senders": ["@spam:x"], "contains_url": true, "unread_thread_notifications": true},
                "state": {"lazy_load_members": true, "include_redundant_members": true, "not_types": ["m.room.member"]},
                "ephemeral": {"not_types": ["m.typing"]},
                "account_data": {"types": ["m.tag"]}
              }
            }
            """);
        filter.TimelineLimit.Should().Be(5);
        filter.IncludeLeave.Should().BeTrue();
        filter.IncludesRoom("!a:x").Should().BeTrue();
        filter.IncludesRoom("!b:x").Should().BeFalse("not_rooms wins over rooms");
        filter.IncludesRoom("!c:x").Should().BeFalse();
        filter.LazyLoadMembers.Should().BeTrue();
        filter.IncludeRedundantMembers.Should().BeTrue();
        filter.Timeline.UnreadThreadNotifications.Should().BeTrue();
        filter.Timeline.Matches("m.room.message", "@a:x", JsonDocument.Parse("""{"url":"mxc://x/y"}""").RootElement).Should().BeTrue();
        filter.Timeline.Matches("m.room.message", "@a:x", JsonDocument.Parse("""{"body":"no url"}""").RootElement).Should().BeFalse();
        filter.Timeline.Matches("m.room.message", "@spam:x", JsonDocument.Parse("""{"url":"mxc://x/y"}""").RootElement).Should().BeFalse();
        filter.Timeline.MatchesType("m.sticker").Should().BeFalse();
        filter.State.MatchesType("m.room.member").Should().BeFalse();
        filter.Ephemeral.MatchesType("m.typing").Should().BeFalse();
        filter.Ephemeral.MatchesType("m.receipt").Should().BeTrue();
        filter.AccountData.MatchesType("m.push_rules").Should().BeFalse();
        filter.RoomAccountData.MatchesType("m.tag").Should().BeTrue();
        filter.RoomAccountData.MatchesType("m.fully_read").Should().BeFalse();
        filter.Presence.Limit.Should().Be(3);
    }

    [Theory]
    [InlineData("m.*", "m.room.message", true)]
    [InlineData("*", "anything", true)]
    [InlineData("m.room.*", "m.room", false)]
    [InlineData("*.message", "m.room.message", true)]
    [InlineData("m.*.member", "m.room.member", true)]
    [InlineData("m.*.member", "m.room.members", false)]
    [InlineData("m.room.message", "m.room.message", true)]
    [InlineData("m.room.message", "m.room.messages", false)]
    [InlineData("a*a", "a", false)]
    [InlineData("a*a", "aa", true)]
    public void Types_match_with_star_globs(string pattern, string type, bool matches)
    {
        Homeserver.Rooms.Client.RoomEventFilter.Glob(pattern, type).Should().Be(matches);
    }

    [Theory]
    [InlineData(-5, 0)]
    [InlineData(0, 0)]
    [InlineData(50, 50)]
    [InlineData(100000, 1000)]
    public void The_timeline_limit_is_kept_within_bounds(int given, int used)
    {
        Parse("{\"room\":{\"timeline\":{\"limit\":" + given + "}}}").TimelineLimit.Should().Be(used);
    }

    [Fact]
    public void Event_format_and_event_fields_are_read()
    {
        var filter = Parse("""{"event_format": "federation", "event_fields": ["type", "content.m\\.relates_to"]}""");
        filter.EventFormat.Should().Be(SyncFilter.FederationFormat);
        filter.EventFields.Should().Equal("type", "content.m\\.relates_to");

        var defaults = Parse("{}");
        defaults.EventFormat.Should().Be(SyncFilter.ClientFormat);
        defaults.EventFields.Should().BeNull();
    }

    [Theory]
    [InlineData("content.body", new[] { "content", "body" })]
    [InlineData("content.m\\.relates_to", new[] { "content", "m.relates_to" })]
    [InlineData("content.m\\\\foo", new[] { "content", "m\\foo" })]
    [InlineData("content.a\\x", new[] { "content", "a\\x" })]
    [InlineData("trailing\\", new[] { "trailing\\" })]
    [InlineData("type", new[] { "type" })]
    [InlineData("a..b", new[] { "a", "", "b" })]
    public void Dot_separated_paths_split_on_unescaped_dots(string path, string[] parts)
    {
        EventWriter.SplitPath(path).Should().Equal(parts);
    }

    [Theory]
    [InlineData("""{"ignored_users": {"@a:x": {}, "@b:x": {}}}""", new[] { "@a:x", "@b:x" })]
    [InlineData("""{"ignored_users": {}}""", new string[0])]
    [InlineData("""{"ignored_users": ["@a:x"]}""", new string[0])]
    [InlineData("""{"other": 1}""", new string[0])]
    [InlineData("""[]""", new string[0])]
    [InlineData("""not json""", new string[0])]
    [InlineData(null, new string[0])]
    public void The_ignored_user_list_is_read_leniently(string? content, string[] users)
    {
        Homeserver.Rooms.Services.IgnoredUsers.Parse(content).Should().BeEquivalentTo(users);
    }
}
