using System.Globalization;
using Homeserver.Core;
using Homeserver.Rooms.StateRes;
using Homeserver.Rooms.Tests.TestKit;
using static Homeserver.Rooms.Tests.TestKit.TestRoom;

namespace Homeserver.Rooms.Tests.StateRes;

/// <summary>
/// A fork with over a thousand conflicting state events. Only correctness is asserted; timing belongs in benchmarks.
/// Branch A: users 0-499 join. Branch B (built later, so with later timestamps): users 250-749 join and Alice bans
/// users 0-99. Expected: the bans are power events and win over A's joins; users 100-249 keep A's join; users 250-499
/// have two valid joins and the later one (B's) wins the mainline/timestamp order; users 500-749 keep B's join.
/// </summary>
public sealed class LargeForkTests
{
    private static string User(int i) => "@u" + i.ToString(CultureInfo.InvariantCulture) + ":example.com";

    [Theory]
    [InlineData("2")]
    [InlineData("10")]
    [InlineData("12")]
    public async Task Resolves_a_thousand_conflicting_events(string versionId)
    {
        var version = RoomVersion.Find(versionId)!;
        var room = new TestRoom(version);
        var a = new Branch(room);
        var b = new Branch(room);
        var aJoins = new Dictionary<int, Pdu>();
        var bJoins = new Dictionary<int, Pdu>();
        var bans = new Dictionary<int, Pdu>();
        for (var i = 0; i < 500; i++)
        {
            aJoins[i] = a.Send(EventTypes.Member, User(i), User(i), """{"membership":"join"}""");
        }

        for (var i = 0; i < 100; i++)
        {
            bans[i] = b.Send(EventTypes.Member, Alice, User(i), """{"membership":"ban"}""");
        }

        for (var i = 250; i < 750; i++)
        {
            bJoins[i] = b.Send(EventTypes.Member, User(i), User(i), """{"membership":"join"}""");
        }

        var source = new InMemoryStateResolutionSource(room.AllEvents.Concat(a.Events).Concat(b.Events));
        var result = await StateResolver.ResolveAsync(version, [a.StateIds, b.StateIds], source);

        (a.Events.Count + b.Events.Count).Should().BeGreaterThanOrEqualTo(1000);
        for (var i = 0; i < 750; i++)
        {
            var expected = i < 100 ? bans[i] : i < 250 ? aJoins[i] : bJoins[i];
            result[new StateKey(EventTypes.Member, User(i))].Should().Be(expected.EventId, "user " + i);
        }

        foreach (var (key, id) in room.State)
        {
            result[key].Should().Be(id.EventId);
        }

        result.Should().HaveCount(room.State.Count + 750);

        // The same answer whichever set comes first, and with an index instead of walking.
        (await StateResolver.ResolveAsync(version, [b.StateIds, a.StateIds], source)).Should().BeEquivalentTo(result);
    }

    [Fact]
    public async Task Loads_events_in_batches_not_one_by_one()
    {
        var version = RoomVersion.V10;
        var room = new TestRoom(version);
        var a = new Branch(room);
        var b = new Branch(room);
        for (var i = 0; i < 300; i++)
        {
            a.Send("org.example.counter", Alice, "k" + i.ToString(CultureInfo.InvariantCulture), """{"side":"a"}""");
            b.Send("org.example.counter", Alice, "k" + i.ToString(CultureInfo.InvariantCulture), """{"side":"b"}""");
        }

        var source = new InMemoryStateResolutionSource(room.AllEvents.Concat(a.Events).Concat(b.Events));
        await StateResolver.ResolveAsync(version, [a.StateIds, b.StateIds], source);
        source.BatchCalls.Should().BeLessThan(40, "each layer of the auth graph is one batch");
    }
}
