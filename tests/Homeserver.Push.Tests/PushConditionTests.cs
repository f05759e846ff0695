using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Push.Rules;

namespace Homeserver.Push.Tests;

public sealed class PushConditionTests
{
    private static PushEventContext Event(string json, long members = 3, long senderLevel = 0, long roomLevel = 50) =>
        new(JsonDocument.Parse(json).RootElement.Clone(), "!room:example.org", "@example:example.org", members, senderLevel, key => key == "room" ? roomLevel : 50);

    private static bool Holds(string condition, PushEventContext e, string? displayName = null) =>
        PushCondition.Compile(JsonNode.Parse(condition)).Matches(e, displayName);

    private const string TopicEvent = """
        {"content": {"topic": "Lunch plans"}, "event_id": "$143273582443PhrSn:example.org", "room_id": "!636q39766251:example.com",
         "sender": "@example:example.org", "state_key": "", "type": "m.room.topic"}
        """;

    [Theory]
    [InlineData("Lunch plans", true)]
    [InlineData("LUNCH", true)]
    [InlineData(" lunch", false)]
    [InlineData("lunc", false)]
    public void Event_match_on_topic_follows_the_spec_example(string topic, bool expected)
    {
        var e = Event(TopicEvent.Replace("Lunch plans", topic, StringComparison.Ordinal));
        Holds("""{"kind": "event_match", "key": "content.topic", "pattern": "lunc?*"}""", e).Should().Be(expected);
    }

    [Fact]
    public void Event_match_does_not_match_a_non_string_value_even_with_star()
    {
        var e = Event("""{"type": "m.room.topic", "content": {"topic": null, "n": 5}}""");
        Holds("""{"kind": "event_match", "key": "content.topic", "pattern": "*"}""", e).Should().BeFalse();
        Holds("""{"kind": "event_match", "key": "content.n", "pattern": "*"}""", e).Should().BeFalse();
        Holds("""{"kind": "event_match", "key": "content.absent", "pattern": "*"}""", e).Should().BeFalse();
    }

    [Theory]
    [InlineData("An example event.", true)]
    [InlineData("exple", true)]
    [InlineData("An exciting triple-whammy", true)]
    [InlineData("counterexample", false)]
    [InlineData("examples", false)]
    [InlineData("EXAMPLE", true)]
    public void Event_match_on_body_matches_at_word_boundaries(string body, bool expected)
    {
        var e = Event(JsonSerializer.Serialize(new { type = "m.room.message", content = new { body } }));
        Holds("""{"kind": "event_match", "key": "content.body", "pattern": "ex*ple"}""", e).Should().Be(expected);
    }

    [Fact]
    public void A_body_pattern_starting_with_a_symbol_carries_its_own_boundary()
    {
        var e = Event("""{"type": "m.room.message", "content": {"body": "ping@room now"}}""");
        Holds("""{"kind": "event_match", "key": "content.body", "pattern": "@room"}""", e).Should().BeTrue();
        Holds("""{"kind": "event_match", "key": "content.body", "pattern": "room"}""", e).Should().BeTrue();
        Holds("""{"kind": "event_match", "key": "content.body", "pattern": "roo"}""", e).Should().BeFalse();
    }

    [Fact]
    public void Event_match_on_other_keys_matches_the_whole_value_case_insensitively()
    {
        var e = Event("""{"type": "m.room.message", "content": {"msgtype": "m.notice"}}""");
        Holds("""{"kind": "event_match", "key": "content.msgtype", "pattern": "M.NOTICE"}""", e).Should().BeTrue();
        Holds("""{"kind": "event_match", "key": "content.msgtype", "pattern": "m.not"}""", e).Should().BeFalse();
        Holds("""{"kind": "event_match", "key": "type", "pattern": "m.room.*"}""", e).Should().BeTrue();
    }

    [Fact]
    public void A_pathological_glob_does_not_take_exponential_time()
    {
        var body = new string('a', 20_000) + "b";
        var e = Event(JsonSerializer.Serialize(new { type = "m.room.message", content = new { body } }));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Holds("""{"kind": "event_match", "key": "content.body", "pattern": "*a*a*a*a*a*a*a*a*a*a*c"}""", e).Should().BeFalse();
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(2));
    }

    private const string CreateEvent = """
        {"content": {"creator": "@example:example.org", "m.federate": true,
          "predecessor": {"event_id": "$something:example.org", "room_id": "!oldroom:example.org"}, "room_version": "1"},
         "event_id": "$143273582443PhrSn:example.org", "room_id": "!636q39766251:example.com",
         "sender": "@example:example.org", "state_key": "", "type": "m.room.create"}
        """;

    [Theory]
    [InlineData("true", true)]
    [InlineData("\"true\"", false)]
    [InlineData("1", false)]
    public void Event_property_is_follows_the_spec_example(string federate, bool expected)
    {
        var e = Event(CreateEvent.Replace("\"m.federate\": true", "\"m.federate\": " + federate, StringComparison.Ordinal));
        Holds("""{"kind": "event_property_is", "key": "content.m\\.federate", "value": true}""", e).Should().Be(expected);
    }

    [Fact]
    public void Event_property_is_compares_strings_integers_and_null_exactly()
    {
        var e = Event("""{"type": "t", "content": {"s": "abc", "n": 42, "z": null, "o": {"a": 1}}}""");
        Holds("""{"kind": "event_property_is", "key": "content.s", "value": "abc"}""", e).Should().BeTrue();
        Holds("""{"kind": "event_property_is", "key": "content.s", "value": "ABC"}""", e).Should().BeFalse();
        Holds("""{"kind": "event_property_is", "key": "content.n", "value": 42}""", e).Should().BeTrue();
        Holds("""{"kind": "event_property_is", "key": "content.n", "value": "42"}""", e).Should().BeFalse();
        Holds("""{"kind": "event_property_is", "key": "content.z", "value": null}""", e).Should().BeTrue();
        Holds("""{"kind": "event_property_is", "key": "content.absent", "value": null}""", e).Should().BeFalse();
        Holds("""{"kind": "event_property_is", "key": "content.o", "value": {"a": 1}}""", e).Should().BeFalse("compound values never match");
    }

    private const string AliasEvent = """
        {"content": {"alias": "#somewhere:localhost", "alt_aliases": ["#somewhere:example.org", "#myroom:example.com"]},
         "event_id": "$143273582443PhrSn:example.org", "origin_server_ts": 1432735824653, "room_id": "!jEsUZKDJdhlrceRyVU:example.org",
         "sender": "@example:example.org", "state_key": "", "type": "m.room.canonical_alias", "unsigned": {"age": 1234}}
        """;

    [Theory]
    [InlineData("#myroom:example.com", true)]
    [InlineData(":example.com", false)]
    [InlineData("#MYROOM:example.com", false)]
    public void Event_property_contains_follows_the_spec_example(string value, bool expected)
    {
        var e = Event(AliasEvent);
        Holds(JsonSerializer.Serialize(new { kind = "event_property_contains", key = "content.alt_aliases", value }), e).Should().Be(expected);
    }

    [Fact]
    public void Event_property_contains_needs_an_array()
    {
        var e = Event(AliasEvent);
        Holds("""{"kind": "event_property_contains", "key": "content.alias", "value": "#somewhere:localhost"}""", e).Should().BeFalse();
    }

    [Fact]
    public void Dotted_paths_unescape_dots_and_backslashes_only()
    {
        PropertyPath.Parse("content.m\\.relates_to.rel_type").Segments.Should().Equal("content", "m.relates_to", "rel_type");
        PropertyPath.Parse("content.m\\\\foo").Segments.Should().Equal("content", "m\\foo");
        PropertyPath.Parse("content.m\\xfoo").Segments.Should().Equal("content", "m\\xfoo");
        var e = Event("""{"type": "t", "content": {"m\\foo": "yes", "m.relates_to": {"rel_type": "m.replace"}}}""");
        Holds("""{"kind": "event_match", "key": "content.m\\\\foo", "pattern": "yes"}""", e).Should().BeTrue();
        Holds("""{"kind": "event_property_is", "key": "content.m\\.relates_to.rel_type", "value": "m.replace"}""", e).Should().BeTrue();
    }

    [Theory]
    [InlineData("Hello Alice Smith!", true)]
    [InlineData("alice smith: ping", true)]
    [InlineData("Hello AliceSmithson", false)]
    [InlineData("nothing here", false)]
    public void Contains_display_name_matches_whole_words(string body, bool expected)
    {
        var e = Event(JsonSerializer.Serialize(new { type = "m.room.message", content = new { body } }));
        Holds("""{"kind": "contains_display_name"}""", e, "Alice Smith").Should().Be(expected);
    }

    [Fact]
    public void Contains_display_name_never_matches_without_a_display_name()
    {
        var e = Event("""{"type": "m.room.message", "content": {"body": "anything"}}""");
        Holds("""{"kind": "contains_display_name"}""", e, null).Should().BeFalse();
        Holds("""{"kind": "contains_display_name"}""", e, string.Empty).Should().BeFalse();
    }

    [Theory]
    [InlineData("2", 2, true)]
    [InlineData("==2", 2, true)]
    [InlineData("==2", 3, false)]
    [InlineData("<10", 9, true)]
    [InlineData("<10", 10, false)]
    [InlineData(">10", 11, true)]
    [InlineData(">10", 10, false)]
    [InlineData("<=10", 10, true)]
    [InlineData("<=10", 11, false)]
    [InlineData(">=10", 10, true)]
    [InlineData(">=10", 9, false)]
    [InlineData("=<10", 5, false)]
    [InlineData("abc", 5, false)]
    [InlineData("", 0, false)]
    public void Room_member_count_compares_the_joined_members(string expression, long members, bool expected)
    {
        var e = Event("""{"type": "m.room.message", "content": {}}""", members);
        Holds(JsonSerializer.Serialize(new { kind = "room_member_count", @is = expression }), e).Should().Be(expected);
    }

    [Theory]
    [InlineData(50, 50, true)]
    [InlineData(49, 50, false)]
    [InlineData(0, 0, true)]
    public void Sender_notification_permission_compares_the_sender_power_with_the_notifications_level(long sender, long required, bool expected)
    {
        var e = Event("""{"type": "m.room.message", "content": {}}""", senderLevel: sender, roomLevel: required);
        Holds("""{"kind": "sender_notification_permission", "key": "room"}""", e).Should().Be(expected);
    }

    [Theory]
    [InlineData("""{"kind": "not_a_condition"}""")]
    [InlineData("""{"kind": "event_match", "key": "type"}""")]
    [InlineData("""{"kind": "event_match", "pattern": "*"}""")]
    [InlineData("""{"key": "type", "pattern": "*"}""")]
    [InlineData("""{"kind": "room_member_count"}""")]
    public void Unknown_or_incomplete_conditions_never_match(string condition)
    {
        var e = Event("""{"type": "m.room.message", "content": {"body": "x"}}""");
        Holds(condition, e).Should().BeFalse();
    }
}
