using Homeserver.Core;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Tests.TestKit;
using static Homeserver.Rooms.Tests.TestKit.TestRoom;

namespace Homeserver.Rooms.Tests.Auth;

public sealed class EventAuthTests
{
    public static TheoryData<string> AllVersions() => [.. RoomVersion.All.Select(v => v.Id)];

    private static TestRoom Room(string id) => new(RoomVersion.Find(id)!);

    private static string AliceUsers(TestRoom room, string extra = "") =>
        room.Version.PrivilegedCreators
            ? "{" + extra.TrimStart(',') + "}"
            : "{\"" + Alice + "\":100" + extra + "}";

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Create_event_rules(string version)
    {
        var v = RoomVersion.Find(version)!;
        var room = new TestRoom(v, standardSetup: false);
        EventAuth.Check(room.Create, room.State).Allowed.Should().BeTrue();

        var withPrev = room.Make("$c2:example.com", EventTypes.Create, Alice, string.Empty, room.Create.Content.GetRawText(), [], [room.Create.EventId]);
        EventAuth.Check(withPrev, room.State).Rule.Should().Be("create.prev_events");

        var badVersion = room.Make("$c3:example.com", EventTypes.Create, Alice, string.Empty,
            v.ImplicitRoomCreator ? """{"room_version":"999"}""" : "{\"creator\":\"" + Alice + "\",\"room_version\":\"999\"}", [], []);
        EventAuth.Check(badVersion, room.State).Rule.Should().Be("create.room_version");
    }

    [Theory]
    [InlineData("1", false)]
    [InlineData("10", false)]
    [InlineData("11", true)]
    [InlineData("12", true)]
    public void Create_without_creator_is_allowed_from_v11(string version, bool allowed)
    {
        var room = new TestRoom(RoomVersion.Find(version)!, createContent: "{}", standardSetup: false);
        var result = EventAuth.Check(room.Create, room.State);
        result.Allowed.Should().Be(allowed);
        if (!allowed)
        {
            result.Rule.Should().Be("create.creator");
        }
    }

    [Theory]
    [InlineData("1")]
    [InlineData("11")]
    public void Create_room_id_domain_must_match_sender(string version)
    {
        var room = new TestRoom(RoomVersion.Find(version)!, creator: Eve, standardSetup: false);
        EventAuth.Check(room.Create, room.State).Rule.Should().Be("create.room_id_domain");
    }

    [Theory]
    [InlineData("""{"additional_creators":["@bob:example.com"]}""", true)]
    [InlineData("""{"additional_creators":"@bob:example.com"}""", false)]
    [InlineData("""{"additional_creators":["bob"]}""", false)]
    [InlineData("""{"additional_creators":[5]}""", false)]
    public void V12_additional_creators_must_be_user_ids(string content, bool allowed)
    {
        var room = new TestRoom(RoomVersion.V12, createContent: content, standardSetup: false);
        EventAuth.Check(room.Create, room.State).Allowed.Should().Be(allowed);

        // Before v12 the key means nothing.
        var v11 = new TestRoom(RoomVersion.V11, createContent: content, standardSetup: false);
        EventAuth.Check(v11.Create, v11.State).Allowed.Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Message_needs_joined_sender_and_events_default(string version)
    {
        var room = Room(version);
        room.Check("m.room.message", Alice, null, """{"body":"hi"}""").Allowed.Should().BeTrue();
        room.Check("m.room.message", Bob, null, """{"body":"hi"}""").Rule.Should().Be("sender.not_joined");
        room.Join(Bob);
        room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"events_default\":10,\"users\":" + AliceUsers(room) + "}");
        room.Check("m.room.message", Bob, null, """{"body":"hi"}""").Rule.Should().Be("event.power");
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void State_needs_state_default_and_own_user_state_key(string version)
    {
        var room = Room(version);
        room.Join(Bob);
        room.Check("m.room.topic", Bob, string.Empty, """{"topic":"x"}""").Rule.Should().Be("event.power");
        room.Check("m.room.topic", Alice, string.Empty, """{"topic":"x"}""").Allowed.Should().BeTrue();
        room.Check("org.example.state", Alice, Bob, "{}").Rule.Should().Be("state_key.user");
        room.Check("org.example.state", Alice, Alice, "{}").Allowed.Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Third_party_invite_event_needs_invite_level(string version)
    {
        var room = Room(version);
        room.Join(Bob);
        room.Check(EventTypes.ThirdPartyInvite, Bob, "tok", "{}").Allowed.Should().BeTrue();
        room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"invite\":10,\"users\":" + AliceUsers(room) + "}");
        room.Check(EventTypes.ThirdPartyInvite, Bob, "tok", "{}").Rule.Should().Be("third_party_invite.power");
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("5", true)]
    [InlineData("6", false)]
    [InlineData("11", false)]
    public void Aliases_special_case_only_in_v1_to_v5(string version, bool allowed)
    {
        // Bob is not even in the room: before v6 his server may still publish its aliases.
        var room = Room(version);
        var bobs = room.Check(EventTypes.Aliases, Bob, "example.com", """{"aliases":["#a:example.com"]}""");
        bobs.Allowed.Should().Be(allowed);
        if (allowed)
        {
            room.Check(EventTypes.Aliases, Bob, "other.org", "{}").Rule.Should().Be("aliases.domain");
        }
        else
        {
            bobs.Rule.Should().Be("sender.not_joined");
        }
    }

    [Theory]
    [InlineData("1", "$r1:example.com", "$target:example.com", true)]
    [InlineData("2", "$r1:example.com", "$target:other.org", false)]
    [InlineData("3", "$r1", "$target", true)]
    [InlineData("11", "$r1", "$target", true)]
    public void Redaction_domain_check_only_in_v1_and_v2(string version, string redactionId, string targetId, bool allowed)
    {
        var room = Room(version);
        room.Join(Bob);
        var v = room.Version;
        var content = v.RedactsInContent ? "{\"redacts\":\"" + targetId + "\"}" : "{}";
        var redaction = room.Build(EventTypes.Redaction, Bob, null, content, redactionId);
        if (!v.RedactsInContent)
        {
            // Top-level redacts: rebuild with it.
            var json = System.Text.Json.Nodes.JsonNode.Parse(redaction.Json.GetRawText())!.AsObject();
            json["redacts"] = targetId;
            redaction = Pdu.Parse(System.Text.Json.JsonDocument.Parse(json.ToJsonString()).RootElement, v, redactionId);
        }

        redaction.Redacts.Should().Be(targetId);
        var result = room.Check(redaction);
        result.Allowed.Should().Be(allowed);
        if (!allowed)
        {
            result.Rule.Should().Be("redaction.power");
        }

        // The creator has the redact level in every version.
        room.Check(room.Build(EventTypes.Redaction, Alice, null, content)).Allowed.Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(AllVersions))]
    public void Unfederated_room_rejects_other_servers(string version)
    {
        var v = RoomVersion.Find(version)!;
        var content = v.ImplicitRoomCreator ? """{"m.federate":false}""" : "{\"creator\":\"" + Alice + "\",\"m.federate\":false}";
        var room = new TestRoom(v, createContent: content);
        room.Check(EventTypes.Member, Eve, Eve, """{"membership":"join"}""").Rule.Should().Be("room.not_federated");
        room.Check(EventTypes.Member, Bob, Bob, """{"membership":"join"}""").Allowed.Should().BeTrue();
    }

    [Fact]
    public void Missing_create_event_is_rejected()
    {
        var room = Room("10");
        var ev = room.Build("m.room.message", Alice, null, "{}");
        var state = room.State.Where(kv => kv.Key.Type != EventTypes.Create).ToDictionary();
        EventAuth.Check(ev, state).Rule.Should().Be("room.no_create");
    }

    [Fact]
    public void V12_create_event_must_match_room_id()
    {
        var room = Room("12");
        var other = new TestRoom(RoomVersion.V12, creator: Bob);
        var state = room.State.ToDictionary();
        state[new StateKey(EventTypes.Create, string.Empty)] = other.Create;
        EventAuth.Check(room.Build("m.room.message", Alice, null, "{}"), state).Rule.Should().Be("room.create_mismatch");
    }

    [Fact]
    public void Should_apply_redaction_helper()
    {
        var room = Room("11");
        room.Join(Bob);
        room.Join(Eve);
        var target = room.Send("m.room.message", Bob, null, "{}");
        var pl = PowerLevels.FromState(room.State, room.Version);
        EventAuth.ShouldApplyRedaction(room.Build(EventTypes.Redaction, Bob, null, "{}"), target, pl).Should().BeTrue();
        EventAuth.ShouldApplyRedaction(room.Build(EventTypes.Redaction, Eve, null, "{}"), target, pl).Should().BeFalse();
        EventAuth.ShouldApplyRedaction(room.Build(EventTypes.Redaction, Alice, null, "{}"), target, pl).Should().BeTrue();
    }
}
