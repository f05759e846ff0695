using Homeserver.Core;
using Homeserver.Rooms.StateRes;
using Homeserver.Rooms.Tests.TestKit;
using static Homeserver.Rooms.Tests.TestKit.TestRoom;

namespace Homeserver.Rooms.Tests.StateRes;

/// <summary>Tests of single steps of the pipeline on small hand-made graphs.</summary>
public sealed class StateResStepTests
{
    /// <summary>A chain C1 &lt;- X &lt;- C2 (C2 cites X, X cites C1) plus an unrelated branch Y citing C1.</summary>
    private static (ResolutionContext Context, Dictionary<string, Pdu> Events) Chain()
    {
        var room = new TestRoom(RoomVersion.V12, standardSetup: false);
        var ima = room.Make("$ima", EventTypes.Member, Alice, Alice, """{"membership":"join"}""", [], [room.Create.EventId]);
        var c1 = room.Make("$c1", EventTypes.PowerLevels, Alice, string.Empty, "{}", ["$ima"], ["$ima"]);
        var x = room.Make("$x", EventTypes.PowerLevels, Alice, string.Empty, "{}", ["$ima", "$c1"], ["$c1"]);
        var c2 = room.Make("$c2", EventTypes.PowerLevels, Alice, string.Empty, "{}", ["$ima", "$x"], ["$x"]);
        var y = room.Make("$y", "m.room.topic", Alice, string.Empty, "{}", ["$ima", "$c1"], ["$c1"]);
        var all = new[] { room.Create, ima, c1, x, c2, y }.ToDictionary(e => e.EventId);
        var context = new ResolutionContext(RoomVersion.V12, new InMemoryStateResolutionSource(all.Values), default);
        return (context, all);
    }

    [Fact]
    public async Task Conflicted_subgraph_holds_the_paths_between_conflicted_events()
    {
        var (context, _) = Chain();
        var subgraph = await ConflictedStateSubgraph.ComputeAsync(context, ["$c1", "$c2"]);
        subgraph.Should().BeEquivalentTo(["$c1", "$x", "$c2"]);

        // With $y conflicted too, nothing new: $y has no path to another conflicted event through $x.
        var (context2, _) = Chain();
        (await ConflictedStateSubgraph.ComputeAsync(context2, ["$c1", "$c2", "$y"])).Should().BeEquivalentTo(["$c1", "$x", "$c2", "$y"]);

        // A lone conflicted event: just itself.
        var (context3, _) = Chain();
        (await ConflictedStateSubgraph.ComputeAsync(context3, ["$c2"])).Should().BeEquivalentTo(["$c2"]);
    }

    [Fact]
    public async Task Auth_difference_includes_the_set_events_and_skips_the_common_region()
    {
        var (context, _) = Chain();
        var topic = new StateKey("m.room.topic", string.Empty);
        var pl = new StateKey(EventTypes.PowerLevels, string.Empty);
        var member = new StateKey(EventTypes.Member, Alice);
        IReadOnlyDictionary<StateKey, string> a = new Dictionary<StateKey, string> { [pl] = "$c2", [member] = "$ima" };
        IReadOnlyDictionary<StateKey, string> b = new Dictionary<StateKey, string> { [pl] = "$c1", [member] = "$ima", [topic] = "$y" };
        var split = StateSplit.Compute([a, b], missingKeyConflicts: true);
        split.Unconflicted.Should().BeEquivalentTo(new Dictionary<StateKey, string> { [member] = "$ima" });
        split.Conflicted.Keys.Should().BeEquivalentTo([pl, topic]);

        var difference = await AuthChainDifference.ComputeAsync(context, [a, b], split);

        // Chain(A) = {c2, x, c1, ima}; chain(B) = {c1, ima, y}.
        difference.Should().BeEquivalentTo(["$c2", "$x", "$y"]);
    }

    [Fact]
    public void Version_1_does_not_treat_a_missing_key_as_a_conflict()
    {
        var k = new StateKey("m.room.topic", string.Empty);
        IReadOnlyDictionary<StateKey, string> a = new Dictionary<StateKey, string> { [k] = "$t" };
        IReadOnlyDictionary<StateKey, string> b = new Dictionary<StateKey, string>();
        StateSplit.Compute([a, b], missingKeyConflicts: false).Unconflicted.Should().ContainKey(k);
        StateSplit.Compute([a, b], missingKeyConflicts: true).Conflicted.Should().ContainKey(k);
    }

    [Fact]
    public void Kahn_sort_breaks_ties_by_power_then_timestamp_then_id()
    {
        // Graph from Synapse's lexicographical sort test: l, m, n, p cite o; m also cites n.
        var edges = new Dictionary<string, List<string>>
        {
            ["l"] = ["o"], ["m"] = ["n", "o"], ["n"] = ["o"], ["o"] = [], ["p"] = ["o"],
        };
        var keys = edges.Keys.ToDictionary(k => k, k => new ReverseTopologicalPowerSort.SortKey(0, 0, k));
        ReverseTopologicalPowerSort.Kahn(edges, keys).Should().Equal("o", "l", "n", "m", "p");

        keys["p"] = new ReverseTopologicalPowerSort.SortKey(100, 0, "p");
        keys["l"] = new ReverseTopologicalPowerSort.SortKey(0, 5, "l");
        ReverseTopologicalPowerSort.Kahn(edges, keys).Should().Equal("o", "p", "n", "m", "l");
    }

    [Theory]
    [InlineData("$a", "$b", -1)]
    [InlineData("$b", "$a", 1)]
    [InlineData("$a", "$aa", -1)]
    [InlineData("$\uFFFD", "$\U0001F600", -1)]
    [InlineData("$a", "$a", 0)]
    public void Event_ids_compare_by_code_point(string x, string y, int expected)
    {
        Math.Sign(EventOrder.CompareIds(x, y)).Should().Be(expected);
        string.CompareOrdinal("\uFFFD", "\U0001F600").Should().BePositive("UTF-16 order differs, which is why we do not use it");
    }

    [Fact]
    public void Power_events()
    {
        var room = new TestRoom(RoomVersion.V10);
        PowerEvents.IsPowerEvent(room.Create).Should().BeTrue();
        PowerEvents.IsPowerEvent(room.State[new StateKey(EventTypes.PowerLevels, string.Empty)]).Should().BeTrue();
        PowerEvents.IsPowerEvent(room.Build(EventTypes.Member, Alice, Bob, """{"membership":"ban"}""")).Should().BeTrue();
        PowerEvents.IsPowerEvent(room.Build(EventTypes.Member, Alice, Bob, """{"membership":"leave"}""")).Should().BeTrue();
        PowerEvents.IsPowerEvent(room.Build(EventTypes.Member, Bob, Bob, """{"membership":"leave"}""")).Should().BeFalse();
        PowerEvents.IsPowerEvent(room.Build(EventTypes.Member, Alice, Bob, """{"membership":"invite"}""")).Should().BeFalse();
        PowerEvents.IsPowerEvent(room.Build("m.room.topic", Alice, string.Empty, "{}")).Should().BeFalse();
    }
}
