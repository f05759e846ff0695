using System.Text.Json;
using Homeserver.Core;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Tests.TestKit;
using static Homeserver.Rooms.Tests.TestKit.TestRoom;

namespace Homeserver.Rooms.Tests.Auth;

public sealed class ReceiptChecksTests
{
    private static IEnumerable<Pdu> AuthEventsOf(TestRoom room, Pdu ev) =>
        ev.AuthEventIds.Select(id => room.AllEvents.First(e => e.EventId == id));

    [Theory]
    [InlineData("1")]
    [InlineData("11")]
    [InlineData("12")]
    public void Event_with_the_right_auth_events_passes(string version)
    {
        var room = new TestRoom(RoomVersion.Find(version)!);
        var join = room.Build(EventTypes.Member, Bob, Bob, """{"membership":"join"}""");
        var create = room.Version.RoomIdIsCreateEventHash ? room.Create : null;
        EventAuth.CheckAgainstAuthEvents(join, AuthEventsOf(room, join), create).Allowed.Should().BeTrue();
    }

    [Fact]
    public void Duplicate_unexpected_rejected_missing_and_foreign_auth_events_are_rejected()
    {
        var room = new TestRoom(RoomVersion.V10);
        room.Join(Bob);
        var topic = room.Send("m.room.topic", Alice, string.Empty, """{"topic":"a"}""");
        var alicesJoin = room.State[new StateKey(EventTypes.Member, Alice)];
        var oldPl = room.State[new StateKey(EventTypes.PowerLevels, string.Empty)];
        var newPl = room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":{\"" + Alice + "\":100,\"" + Bob + "\":1}}");

        var n = 0;
        Pdu Msg(params string[] auth) => room.Make("$m" + ++n + "x", "m.room.message", Alice, null, "{}", auth, [topic.EventId]);

        var good = Msg(room.Create.EventId, newPl.EventId, alicesJoin.EventId);
        EventAuth.CheckAgainstAuthEvents(good, room.AllEvents).Allowed.Should().BeTrue();

        EventAuth.CheckAgainstAuthEvents(Msg(room.Create.EventId, newPl.EventId, oldPl.EventId, alicesJoin.EventId), room.AllEvents)
            .Rule.Should().Be("auth_events.duplicate");
        EventAuth.CheckAgainstAuthEvents(Msg(room.Create.EventId, topic.EventId, alicesJoin.EventId), room.AllEvents)
            .Rule.Should().Be("auth_events.unexpected");
        EventAuth.CheckAgainstAuthEvents(Msg(room.Create.EventId, room.State[new StateKey(EventTypes.JoinRules, string.Empty)].EventId, alicesJoin.EventId), room.AllEvents)
            .Rule.Should().Be("auth_events.unexpected", "join rules are only selected for membership events");
        EventAuth.CheckAgainstAuthEvents(good, room.AllEvents, isRejected: id => id == newPl.EventId)
            .Rule.Should().Be("auth_events.rejected");
        EventAuth.CheckAgainstAuthEvents(Msg(newPl.EventId, alicesJoin.EventId), room.AllEvents)
            .Rule.Should().Be("room.no_create");
        EventAuth.CheckAgainstAuthEvents(good, room.AllEvents.Where(e => e.EventId != newPl.EventId))
            .Rule.Should().Be("auth_events.missing");

        var otherRoom = new TestRoom(RoomVersion.V10, roomId: "!other:example.com");
        var foreignCreate = Msg(otherRoom.Create.EventId, newPl.EventId, alicesJoin.EventId);
        EventAuth.CheckAgainstAuthEvents(foreignCreate, room.AllEvents.Concat([otherRoom.Create]))
            .Rule.Should().Be("auth_events.room");
    }

    [Fact]
    public void Auth_events_are_judged_as_they_are_not_as_the_current_state_is()
    {
        // Bob is banned in the current state, but his message cites his join: step 4 passes, step 6 (current state) fails.
        var room = new TestRoom(RoomVersion.V11);
        room.Join(Bob);
        var message = room.Build("m.room.message", Bob, null, "{}");
        room.SetMembership(Alice, Bob, "ban");
        EventAuth.CheckAgainstAuthEvents(message, AuthEventsOf(room, message)).Allowed.Should().BeTrue();
        room.Check(message).Rule.Should().Be("sender.not_joined");
    }

    [Fact]
    public void V12_needs_the_accepted_create_event_from_the_room_id()
    {
        var room = new TestRoom(RoomVersion.V12);
        var msg = room.Build("m.room.message", Alice, null, "{}");
        EventAuth.CheckAgainstAuthEvents(msg, AuthEventsOf(room, msg)).Rule.Should().Be("room.create_mismatch");
        EventAuth.CheckAgainstAuthEvents(msg, AuthEventsOf(room, msg), room.Create, id => id == room.Create.EventId)
            .Rule.Should().Be("room.create_rejected");
        EventAuth.CheckAgainstAuthEvents(msg, AuthEventsOf(room, msg), room.Create).Allowed.Should().BeTrue();
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("11", true)]
    [InlineData("12", false)]
    public void Selection_includes_create_before_v12(string version, bool includesCreate)
    {
        var v = RoomVersion.Find(version)!;
        var content = JsonDocument.Parse("{}").RootElement;
        var keys = AuthEventsSelection.GetRequiredKeys(v, "m.room.message", null, Alice, content);
        keys.Contains(new StateKey(EventTypes.Create, string.Empty)).Should().Be(includesCreate);
        keys.Should().Contain(new StateKey(EventTypes.PowerLevels, string.Empty));
        keys.Should().Contain(new StateKey(EventTypes.Member, Alice));
        AuthEventsSelection.GetRequiredKeys(v, EventTypes.Create, string.Empty, Alice, content).Should().BeEmpty();
    }

    [Theory]
    [InlineData("7", false)]
    [InlineData("8", true)]
    public void Selection_for_membership(string version, bool restricted)
    {
        var v = RoomVersion.Find(version)!;
        var join = JsonDocument.Parse("""{"membership":"join","join_authorised_via_users_server":"@charlie:example.com"}""").RootElement;
        var keys = AuthEventsSelection.GetRequiredKeys(v, EventTypes.Member, Bob, Bob, join);
        keys.Should().Contain(new StateKey(EventTypes.JoinRules, string.Empty));
        keys.Contains(new StateKey(EventTypes.Member, Charlie)).Should().Be(restricted);

        var leave = JsonDocument.Parse("""{"membership":"leave"}""").RootElement;
        AuthEventsSelection.GetRequiredKeys(v, EventTypes.Member, Alice, Bob, leave).Should()
            .BeEquivalentTo([new StateKey(EventTypes.Create, string.Empty), new StateKey(EventTypes.PowerLevels, string.Empty), new StateKey(EventTypes.Member, Alice), new StateKey(EventTypes.Member, Bob)]);

        var tpi = JsonDocument.Parse("""{"membership":"invite","third_party_invite":{"signed":{"token":"abc"}}}""").RootElement;
        AuthEventsSelection.GetRequiredKeys(v, EventTypes.Member, Alice, Bob, tpi).Should().Contain(new StateKey(EventTypes.ThirdPartyInvite, "abc"));

        var malformed = JsonDocument.Parse("""{"membership":"invite","third_party_invite":{"signed":5}}""").RootElement;
        AuthEventsSelection.GetRequiredKeys(v, EventTypes.Member, Alice, Bob, malformed).Should().HaveCount(5);
    }
}
