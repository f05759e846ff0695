using System.Text.Json;
using Homeserver.Core;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Tests.TestKit;
using static Homeserver.Rooms.Tests.TestKit.TestRoom;

namespace Homeserver.Rooms.Tests.Auth;

public sealed class PowerLevelsAuthTests
{
    private static TestRoom Room(string id)
    {
        var room = new TestRoom(RoomVersion.Find(id)!);
        room.Join(Bob);
        return room;
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("9", true)]
    [InlineData("10", false)]
    [InlineData("11", false)]
    public void String_power_levels_are_rejected_from_v10(string version, bool allowed)
    {
        var room = Room(version);
        var content = "{\"ban\":\"50\",\"users\":{\"" + Alice + "\":\" +100 \"},\"events\":{\"m.room.name\":\"0050\"}}";
        var result = room.Check(EventTypes.PowerLevels, Alice, string.Empty, content);
        result.Allowed.Should().Be(allowed, result.ToString());
        if (!allowed)
        {
            result.Rule.Should().Be("power_levels.invalid");
        }
    }

    [Theory]
    [InlineData("""{"users":{"not-a-user":10}}""")]
    [InlineData("""{"users":{"@bob:example.com":"ten"}}""")]
    [InlineData("""{"users":[]}""")]
    [InlineData("""{"ban":"fifty"}""")]
    [InlineData("""{"events":{"m.room.name":true}}""")]
    [InlineData("""{"kick":null}""")]
    public void Malformed_power_levels_are_rejected_in_every_version(string content)
    {
        foreach (var v in RoomVersion.All)
        {
            var room = new TestRoom(v);
            var result = room.Check(EventTypes.PowerLevels, Alice, string.Empty, content);
            result.Rule.Should().Be("power_levels.invalid", "version " + v.Id + ": " + result);
        }
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("5", true)]
    [InlineData("6", false)]
    public void Float_power_levels_are_read_only_without_strict_canonical_json(string version, bool allowed)
    {
        var room = Room(version);
        room.Check(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":{\"" + Alice + "\":100,\"" + Bob + "\":50.7}}")
            .Allowed.Should().Be(allowed);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("10")]
    [InlineData("11")]
    public void Cannot_raise_others_above_own_level_or_touch_equal_peers(string version)
    {
        var room = Room(version);
        room.Join(Charlie);
        room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":{\"" + Alice + "\":100,\"" + Bob + "\":50,\"" + Charlie + "\":50}}");

        room.Check(EventTypes.PowerLevels, Bob, string.Empty, "{\"users\":{\"" + Alice + "\":100,\"" + Bob + "\":50,\"" + Charlie + "\":60}}")
            .Rule.Should().Be("power_levels.users");
        room.Check(EventTypes.PowerLevels, Bob, string.Empty, "{\"users\":{\"" + Alice + "\":100,\"" + Bob + "\":50,\"" + Charlie + "\":10}}")
            .Rule.Should().Be("power_levels.users", "Charlie's level equals Bob's");
        room.Check(EventTypes.PowerLevels, Bob, string.Empty, "{\"users\":{\"" + Alice + "\":100,\"" + Bob + "\":40,\"" + Charlie + "\":50}}")
            .Allowed.Should().BeTrue("demoting oneself is always allowed");
    }

    [Theory]
    [InlineData("1")]
    [InlineData("11")]
    public void Demoting_self_and_changing_levels_within_own_power(string version)
    {
        var room = Room(version);
        room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":{\"" + Alice + "\":100,\"" + Bob + "\":60}}");
        room.Check(EventTypes.PowerLevels, Bob, string.Empty, "{\"users\":{\"" + Alice + "\":100,\"" + Bob + "\":30}}").Allowed.Should().BeTrue();
        room.Check(EventTypes.PowerLevels, Bob, string.Empty, "{\"ban\":60,\"users\":{\"" + Alice + "\":100,\"" + Bob + "\":60}}").Allowed.Should().BeTrue();
        room.Check(EventTypes.PowerLevels, Bob, string.Empty, "{\"ban\":70,\"users\":{\"" + Alice + "\":100,\"" + Bob + "\":60}}").Rule.Should().Be("power_levels.ban");
        room.Check(EventTypes.PowerLevels, Bob, string.Empty, "{\"events\":{\"m.room.name\":61},\"users\":{\"" + Alice + "\":100,\"" + Bob + "\":60}}").Rule.Should().Be("power_levels.events");
        room.Check(EventTypes.PowerLevels, Bob, string.Empty, "{\"users\":{\"" + Bob + "\":60}}").Rule.Should().Be("power_levels.users", "removing Alice's 100");
    }

    [Theory]
    [InlineData("5", true)]
    [InlineData("6", false)]
    [InlineData("12", false)]
    public void Notifications_are_checked_from_v6(string version, bool allowed)
    {
        var room = Room(version);
        var users = room.Version.PrivilegedCreators ? "{\"" + Bob + "\":50}" : "{\"" + Alice + "\":100,\"" + Bob + "\":50}";
        room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"state_default\":50,\"users\":" + users + "}");
        room.Check(EventTypes.PowerLevels, Bob, string.Empty, "{\"state_default\":50,\"notifications\":{\"room\":80},\"users\":" + users + "}")
            .Allowed.Should().Be(allowed);
    }

    [Fact]
    public void V12_creators_cannot_be_listed_and_have_infinite_power()
    {
        var room = Room("12");
        room.Check(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":{\"" + Alice + "\":100}}").Rule.Should().Be("power_levels.invalid");

        // Infinite power: the creator can set any level, and nobody can kick or ban the creator.
        room.Check(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":{\"" + Bob + "\":9007199254740991}}").Allowed.Should().BeTrue();
        room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":{\"" + Bob + "\":9007199254740991}}");
        room.Check(EventTypes.Member, Bob, Alice, """{"membership":"ban"}""").Rule.Should().Be("member.ban.target_power");
        room.Check(EventTypes.Member, Alice, Bob, """{"membership":"ban"}""").Allowed.Should().BeTrue();
    }

    [Fact]
    public void V12_additional_creators_have_infinite_power()
    {
        var room = new TestRoom(RoomVersion.V12, createContent: """{"additional_creators":["@bob:example.com"]}""");
        room.Join(Bob);
        room.Join(Charlie);
        room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":{\"" + Charlie + "\":100}}");
        PowerLevels.FromState(room.State, room.Version).GetUserLevel(Bob).Should().Be(PowerLevels.CreatorLevel);
        room.Check(EventTypes.Member, Bob, Charlie, """{"membership":"ban"}""").Allowed.Should().BeTrue();
        room.Check(EventTypes.Member, Charlie, Bob, """{"membership":"ban"}""").Rule.Should().Be("member.ban.target_power");
        room.Check(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":{\"" + Bob + "\":1}}").Rule.Should().Be("power_levels.invalid");

        // In v11 the same key gives Bob nothing.
        var v11 = new TestRoom(RoomVersion.V11, createContent: """{"additional_creators":["@bob:example.com"]}""");
        PowerLevels.FromState(v11.State, v11.Version).GetUserLevel(Bob).Should().Be(0);
    }

    [Fact]
    public void The_view_kept_on_a_power_levels_event_is_only_reused_with_the_same_create_event()
    {
        // The view is kept on the power levels event (PowerLevels.From reads its maps once); paired with another create
        // event, whose creators differ, it must be built again and not handed out from the first pairing.
        var room = new TestRoom(RoomVersion.V12, createContent: """{"additional_creators":["@bob:example.com"]}""");
        var pl = room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":{\"" + Charlie + "\":100}}");
        var plain = new TestRoom(RoomVersion.V12);

        var first = PowerLevels.From(pl, room.Create, room.Version);
        PowerLevels.From(pl, room.Create, room.Version).Should().BeSameAs(first);
        first.GetUserLevel(Bob).Should().Be(PowerLevels.CreatorLevel);
        PowerLevels.From(pl, plain.Create, plain.Version).GetUserLevel(Bob).Should().Be(0);
        PowerLevels.From(pl, room.Create, room.Version).GetUserLevel(Bob).Should().Be(PowerLevels.CreatorLevel);
        PowerLevels.From(pl, room.Create, room.Version).GetUserLevel(Charlie).Should().Be(100);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("10")]
    public void Malformed_power_levels_in_state_fall_back_to_defaults(string version)
    {
        var room = Room(version);

        // Stored despite being malformed (for instance from an old fork): unreadable values are treated as absent.
        room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":{\"" + Alice + "\":100},\"state_default\":\"lots\",\"ban\":[1]}");
        var pl = PowerLevels.FromState(room.State, room.Version);
        pl.StateDefault.Should().Be(50);
        pl.Ban.Should().Be(50);
        room.Check("m.room.topic", Bob, string.Empty, "{}").Rule.Should().Be("event.power");
        room.Check("m.room.topic", Alice, string.Empty, "{}").Allowed.Should().BeTrue();
    }

    [Fact]
    public void Defaults_without_power_levels_event()
    {
        var room = new TestRoom(RoomVersion.V10, standardSetup: false);
        var pl = PowerLevels.FromState(room.State, room.Version);
        pl.GetUserLevel(Alice).Should().Be(100);
        pl.GetUserLevel(Bob).Should().Be(0);
        pl.Ban.Should().Be(50);
        pl.Kick.Should().Be(50);
        pl.Redact.Should().Be(50);
        pl.Invite.Should().Be(0);
        pl.GetEventLevel("m.room.topic", isState: true).Should().Be(50);
        pl.GetEventLevel("m.room.message", isState: false).Should().Be(0);
        pl.GetNotificationLevel("room").Should().Be(50);
        pl.GetNotificationLevel("other").Should().BeNull();

        var v12 = new TestRoom(RoomVersion.V12, standardSetup: false);
        PowerLevels.FromState(v12.State, v12.Version).GetUserLevel(Alice).Should().Be(PowerLevels.CreatorLevel);
    }

    [Theory]
    [InlineData("100", 100L)]
    [InlineData("000100", 100L)]
    [InlineData(" +100 ", 100L)]
    [InlineData(" -7", -7L)]
    [InlineData("1.5", null)]
    [InlineData("+-1", null)]
    [InlineData("", null)]
    [InlineData("99999999999999999999", null)]
    public void Stringy_power_level_parsing(string text, long? expected)
    {
        var ok = PowerLevelValue.TryParseStringy(text, out var value);
        ok.Should().Be(expected.HasValue);
        if (expected.HasValue)
        {
            value.Should().Be(expected.Value);
        }
    }

    [Theory]
    [InlineData("50", "1", true)]
    [InlineData("50.0", "1", true)]
    [InlineData("5e1", "1", true)]
    [InlineData("50.0", "6", false)]
    [InlineData("\"50\"", "9", true)]
    [InlineData("\"50\"", "10", false)]
    [InlineData("50", "10", true)]
    [InlineData("9007199254740992", "10", false)]
    [InlineData("true", "1", false)]
    public void Power_level_value_reading(string json, string version, bool ok)
    {
        PowerLevelValue.TryRead(JsonDocument.Parse(json).RootElement, RoomVersion.Find(version)!, out var level).Should().Be(ok);
        if (ok)
        {
            level.Should().Be(50);
        }
    }
}
