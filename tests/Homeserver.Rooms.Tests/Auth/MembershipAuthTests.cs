using System.Text.Json;
using Homeserver.Core;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Tests.TestKit;
using static Homeserver.Rooms.Tests.TestKit.TestRoom;

namespace Homeserver.Rooms.Tests.Auth;

public sealed class MembershipAuthTests
{
    public static TheoryData<string> AllVersions() => [.. RoomVersion.All.Select(v => v.Id)];

    private static TestRoom Room(string id, string joinRule = "public")
    {
        var room = new TestRoom(RoomVersion.Find(id)!);
        if (joinRule != "public")
        {
            room.Send(EventTypes.JoinRules, Alice, string.Empty, "{\"join_rule\":\"" + joinRule + "\"}");
        }

        return room;
    }

    private static string Join => """{"membership":"join"}""";

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Self_join_to_public_room_is_allowed(string version)
    {
        Room(version).Check(EventTypes.Member, Bob, Bob, Join).Allowed.Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Self_join_to_invite_only_room_without_invite_is_rejected(string version)
    {
        var result = Room(version, "invite").Check(EventTypes.Member, Bob, Bob, Join);
        result.Rule.Should().Be("member.join.not_invited");
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Join_after_invite_is_allowed(string version)
    {
        var room = Room(version, "invite");
        room.SetMembership(Alice, Bob, "invite");
        room.Check(EventTypes.Member, Bob, Bob, Join).Allowed.Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Join_after_ban_is_rejected(string version)
    {
        var room = Room(version);
        room.SetMembership(Alice, Bob, "ban");
        room.Check(EventTypes.Member, Bob, Bob, Join).Rule.Should().Be("member.join.banned");
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Joining_someone_else_is_rejected(string version)
    {
        Room(version).Check(EventTypes.Member, Alice, Bob, Join).Rule.Should().Be("member.join.not_self");
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Join_without_membership_or_state_key_is_rejected(string version)
    {
        var room = Room(version);
        room.Check(EventTypes.Member, Bob, Bob, "{}").Rule.Should().Be("member.no_membership");
        room.Check(EventTypes.Member, Bob, Bob, """{"membership":5}""").Rule.Should().Be("member.no_membership");
        room.Check(EventTypes.Member, Bob, null, Join).Rule.Should().Be("member.no_state_key");
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Creator_join_right_after_create_is_allowed_even_without_join_rules(string version)
    {
        var room = new TestRoom(RoomVersion.Find(version)!, standardSetup: false);
        var join = room.Build(EventTypes.Member, Alice, Alice, Join, prevEvents: [room.Create.EventId]);
        room.Check(join).Allowed.Should().BeTrue();

        // Anyone else's join after the create event alone falls through to the join rule (none: invite) and fails.
        var bob = room.Build(EventTypes.Member, Bob, Bob, Join, prevEvents: [room.Create.EventId]);
        room.Check(bob).Allowed.Should().BeFalse();
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Invite_by_member_with_power_is_allowed_and_by_non_member_rejected(string version)
    {
        var room = Room(version, "invite");
        room.Check(EventTypes.Member, Alice, Bob, """{"membership":"invite"}""").Allowed.Should().BeTrue();
        room.Check(EventTypes.Member, Charlie, Bob, """{"membership":"invite"}""").Rule.Should().Be("member.invite.sender_not_joined");
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Invite_by_someone_without_power_is_rejected(string version)
    {
        var room = Room(version);
        room.Join(Bob);
        var users = room.Version.PrivilegedCreators ? "{}" : "{\"" + Alice + "\":100}";
        room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"invite\":50,\"users\":" + users + "}");
        room.Check(EventTypes.Member, Bob, Charlie, """{"membership":"invite"}""").Rule.Should().Be("member.invite.power");
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Invite_of_banned_or_joined_user_is_rejected(string version)
    {
        var room = Room(version);
        room.Join(Bob);
        room.SetMembership(Alice, Charlie, "ban");
        room.Check(EventTypes.Member, Alice, Charlie, """{"membership":"invite"}""").Rule.Should().Be("member.invite.target_state");
        room.Check(EventTypes.Member, Alice, Bob, """{"membership":"invite"}""").Rule.Should().Be("member.invite.target_state");
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Leave_of_a_non_member_is_rejected(string version)
    {
        var room = Room(version);
        room.Check(EventTypes.Member, Bob, Bob, """{"membership":"leave"}""").Rule.Should().Be("member.leave.self_state");
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Kick_needs_kick_level_and_higher_power_than_target(string version)
    {
        var room = Room(version);
        room.Join(Bob);
        room.Join(Charlie);
        room.Check(EventTypes.Member, Alice, Bob, """{"membership":"leave"}""").Allowed.Should().BeTrue();
        room.Check(EventTypes.Member, Bob, Charlie, """{"membership":"leave"}""").Rule.Should().Be("member.leave.kick_power");
        room.Check(EventTypes.Member, Bob, Alice, """{"membership":"leave"}""").Rule.Should().Be("member.leave.kick_power");
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Ban_versus_join_a_banned_user_cannot_join_and_unban_needs_ban_level(string version)
    {
        var room = Room(version);
        room.Join(Bob);
        room.Join(Charlie);
        room.Check(EventTypes.Member, Bob, Charlie, """{"membership":"ban"}""").Rule.Should().Be("member.ban.power");
        room.SetMembership(Alice, Charlie, "ban");
        room.Check(EventTypes.Member, Charlie, Charlie, Join).Rule.Should().Be("member.join.banned");
        var users = room.Version.PrivilegedCreators ? "{\"" + Bob + "\":50}" : "{\"" + Alice + "\":100,\"" + Bob + "\":50}";
        room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"ban\":60,\"kick\":50,\"users\":" + users + "}");
        room.Check(EventTypes.Member, Bob, Charlie, """{"membership":"leave"}""").Rule.Should().Be("member.leave.unban_power");
        room.Check(EventTypes.Member, Alice, Charlie, """{"membership":"leave"}""").Allowed.Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Ban_of_equal_power_is_rejected_and_ban_by_non_member_is_rejected(string version)
    {
        var room = Room(version);
        room.Join(Bob);
        var users = room.Version.PrivilegedCreators ? "{\"" + Bob + "\":100, \"" + Charlie + "\":100}" : "{\"" + Alice + "\":100,\"" + Bob + "\":100,\"" + Charlie + "\":100}";
        room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":" + users + "}");
        room.Join(Charlie);
        room.Check(EventTypes.Member, Bob, Charlie, """{"membership":"ban"}""").Rule.Should().Be("member.ban.target_power");
        room.Check(EventTypes.Member, Eve, Charlie, """{"membership":"ban"}""").Rule.Should().Be("member.ban.sender_not_joined");
    }

    [Theory]
    [InlineData("1", false)]
    [InlineData("6", false)]
    [InlineData("7", true)]
    [InlineData("10", true)]
    [InlineData("12", true)]
    public void Knock_is_only_allowed_from_v7(string version, bool allowed)
    {
        var room = Room(version, "knock");
        var result = room.Check(EventTypes.Member, Bob, Bob, """{"membership":"knock"}""");
        result.Allowed.Should().Be(allowed);
        if (!allowed)
        {
            result.Rule.Should().Be("member.unknown");
        }
    }

    [Theory]
    [InlineData("7")]
    [InlineData("11")]
    public void Knock_rules(string version)
    {
        Room(version, "public").Check(EventTypes.Member, Bob, Bob, """{"membership":"knock"}""").Rule.Should().Be("member.knock.rule");
        Room(version, "knock").Check(EventTypes.Member, Alice, Bob, """{"membership":"knock"}""").Rule.Should().Be("member.knock.not_self");
        var room = Room(version, "knock");
        room.SetMembership(Alice, Bob, "invite");
        room.Check(EventTypes.Member, Bob, Bob, """{"membership":"knock"}""").Rule.Should().Be("member.knock.state");

        // Knock then rescind: leaving from knock is allowed from v7.
        var knocked = Room(version, "knock");
        knocked.Send(EventTypes.Member, Bob, Bob, """{"membership":"knock"}""");
        knocked.Check(EventTypes.Member, Bob, Bob, """{"membership":"leave"}""").Allowed.Should().BeTrue();
    }

    [Theory]
    [InlineData("9", false)]
    [InlineData("10", true)]
    public void Knock_restricted_only_exists_from_v10(string version, bool allowed)
    {
        Room(version, "knock_restricted").Check(EventTypes.Member, Bob, Bob, """{"membership":"knock"}""").Allowed.Should().Be(allowed);
    }

    [Theory]
    [InlineData("7", "restricted", false)]
    [InlineData("8", "restricted", true)]
    [InlineData("9", "knock_restricted", false)]
    [InlineData("10", "knock_restricted", true)]
    [InlineData("12", "restricted", true)]
    public void Restricted_join_via_authorising_user(string version, string rule, bool allowed)
    {
        var room = Room(version, rule);
        var content = "{\"membership\":\"join\",\"join_authorised_via_users_server\":\"" + Alice + "\"}";
        var join = room.Build(EventTypes.Member, Bob, Bob, content);
        var result = room.Check(join);
        result.Allowed.Should().Be(allowed, result.ToString());
    }

    [Theory]
    [InlineData("8")]
    [InlineData("12")]
    public void Restricted_join_failures(string version)
    {
        var room = Room(version, "restricted");
        room.Join(Charlie); // Alice never invited Charlie, but the room was public earlier in this test's history.
        room.Check(EventTypes.Member, Bob, Bob, Join).Rule.Should().Be("member.join.no_authoriser");

        // The authoriser must be joined and able to invite.
        var byStranger = "{\"membership\":\"join\",\"join_authorised_via_users_server\":\"@zed:example.com\"}";
        room.Check(EventTypes.Member, Bob, Bob, byStranger).Rule.Should().Be("member.join.authoriser_not_joined");
        room.Send(EventTypes.PowerLevels, Alice, string.Empty,
            room.Version.PrivilegedCreators ? """{"invite":50}""" : "{\"invite\":50,\"users\":{\"" + Alice + "\":100}}");
        var byCharlie = "{\"membership\":\"join\",\"join_authorised_via_users_server\":\"" + Charlie + "\"}";
        room.Check(EventTypes.Member, Bob, Bob, byCharlie).Rule.Should().Be("member.join.authoriser_power");

        // The event must be signed by the authoriser's server: evil.org did not sign.
        var byEve = "{\"membership\":\"join\",\"join_authorised_via_users_server\":\"" + Eve + "\"}";
        room.Check(EventTypes.Member, Bob, Bob, byEve).Rule.Should().Be("member.authoriser_signature");
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Unknown_membership_is_rejected(string version)
    {
        Room(version).Check(EventTypes.Member, Bob, Bob, """{"membership":"dance"}""").Rule.Should().Be("member.unknown");
    }

    [Theory]
    [InlineData("2")]
    [InlineData("11")]
    [InlineData("12")]
    public void Third_party_invite(string version)
    {
        var room = Room(version, "invite");
        room.Send(EventTypes.ThirdPartyInvite, Alice, "tok", """{"display_name":"b...","key_validity_url":"https://id/","public_key":"PUBKEY"}""");
        var content = "{\"membership\":\"invite\",\"third_party_invite\":{\"display_name\":\"b\",\"signed\":{\"mxid\":\"" + Bob
            + "\",\"token\":\"tok\",\"signatures\":{\"id.example\":{\"ed25519:0\":\"sig\"}}}}}";
        var invite = room.Build(EventTypes.Member, Alice, Bob, content);
        invite.AuthEventIds.Should().Contain(room.State[new StateKey(EventTypes.ThirdPartyInvite, "tok")].EventId);

        room.Check(invite, new FakeVerifier(acceptKey: "PUBKEY")).Allowed.Should().BeTrue();
        room.Check(invite, new FakeVerifier(acceptKey: "OTHER")).Rule.Should().Be("member.invite.3pid_signature");
        room.Check(invite).Rule.Should().Be("member.invite.3pid_signature", "the default verifier cannot check Ed25519 signatures");

        room.Join(Charlie);
        var wrongSender = room.Build(EventTypes.Member, Charlie, Bob, content);
        room.Check(wrongSender, new FakeVerifier("PUBKEY")).Rule.Should().Be("member.invite.3pid_sender");
        var wrongMxid = room.Build(EventTypes.Member, Alice, Charlie, content);
        room.Check(wrongMxid, new FakeVerifier("PUBKEY")).Rule.Should().Be("member.invite.3pid_mxid");
        var noToken = room.Build(EventTypes.Member, Alice, Bob, """{"membership":"invite","third_party_invite":{"signed":{"mxid":"@bob:example.com"}}}""");
        room.Check(noToken, new FakeVerifier("PUBKEY")).Rule.Should().Be("member.invite.3pid_fields");
        var notObject = room.Build(EventTypes.Member, Alice, Bob, """{"membership":"invite","third_party_invite":{"signed":"x"}}""");
        room.Check(notObject, new FakeVerifier("PUBKEY")).Rule.Should().Be("member.invite.3pid_no_signed");
    }

    internal sealed class FakeVerifier(string acceptKey) : IAuthSignatureVerifier
    {
        public bool IsSignedByServer(Pdu pdu, string serverName) => SignaturesCheckedUpstreamVerifier.Instance.IsSignedByServer(pdu, serverName);

        public bool VerifyThirdPartyInviteSigned(JsonElement signed, IReadOnlyList<string> publicKeys) => publicKeys.Contains(acceptKey);
    }
}
