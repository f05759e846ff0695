using Homeserver.Core;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Tests.TestKit;
using static Homeserver.Rooms.Tests.TestKit.TestRoom;

namespace Homeserver.Rooms.Tests.Auth;

public sealed class RoomStateTests
{
    [Fact]
    public void Reads_membership_join_rules_and_creators()
    {
        var room = new TestRoom(RoomVersion.V10);
        room.Join(Bob);
        room.Send(EventTypes.JoinRules, Alice, string.Empty,
            """{"join_rule":"restricted","allow":[{"type":"m.room_membership","room_id":"!space:example.com"},{"type":"x"},5]}""");

        RoomState.GetMembership(room.State, Bob).Should().Be(Membership.Join);
        RoomState.GetMembership(room.State, Charlie).Should().BeNull();
        var rules = RoomState.GetJoinRules(room.State);
        rules.Rule.Should().Be(JoinRule.Restricted);
        rules.Allow.Should().Equal(new JoinRuleAllow("m.room_membership", "!space:example.com"), new JoinRuleAllow("x", null));
        RoomState.GetCreators(room.State, room.Version).UserIds.Should().Equal(Alice);
        RoomState.GetPowerLevels(room.State, room.Version).GetUserLevel(Alice).Should().Be(100);
    }

    [Fact]
    public void Join_rule_defaults_to_invite()
    {
        var room = new TestRoom(RoomVersion.V10, standardSetup: false);
        RoomState.GetJoinRules(room.State).Should().Match<JoinRules>(r => r.Rule == JoinRule.Invite && !r.IsPresent);
    }

    [Theory]
    [InlineData("10", new[] { "@alice:example.com" }, false)]
    [InlineData("11", new[] { "@carol:example.com" }, false)]
    [InlineData("12", new[] { "@carol:example.com", "@dan:example.com" }, true)]
    public void Creators_per_version(string version, string[] expected, bool privileged)
    {
        var v = RoomVersion.Find(version)!;
        var content = v.ImplicitRoomCreator
            ? """{"creator":"@alice:example.com","additional_creators":["@dan:example.com","@carol:example.com"]}"""
            : """{"creator":"@alice:example.com"}""";
        var room = new TestRoom(v, creator: "@carol:example.com", createContent: content, standardSetup: false);
        var creators = RoomCreators.From(room.Create, v);
        creators.UserIds.Should().Equal(expected);
        creators.Privileged.Should().Be(privileged);
    }
}
