using Homeserver.Core;
using Homeserver.Rooms.StateRes;
using Homeserver.Rooms.Tests.TestKit;
using static Homeserver.Rooms.Tests.TestKit.TestRoom;

namespace Homeserver.Rooms.Tests.StateRes;

public sealed class StateResPropertyTests
{
    public static TheoryData<string> Versions() => ["1", "2", "6", "10", "11", "12"];

    /// <summary>A room forked three ways: power levels, bans, joins and topics compete.</summary>
    private static (TestRoom Room, List<IReadOnlyDictionary<StateKey, string>> Sets, InMemoryStateResolutionSource Source) ThreeWayFork(RoomVersion version)
    {
        var room = new TestRoom(version);
        room.Join(Bob);
        room.Join(Charlie);
        var users = version.PrivilegedCreators ? "{\"" + Bob + "\":50}" : "{\"" + Alice + "\":100,\"" + Bob + "\":50}";
        room.Send(EventTypes.PowerLevels, Alice, string.Empty, "{\"users\":" + users + "}");

        var a = new Branch(room);
        a.Send("m.room.topic", Bob, string.Empty, """{"topic":"bob"}""");
        a.Send(EventTypes.Member, Bob, Charlie, """{"membership":"ban"}""");

        var b = new Branch(room);
        b.Send(EventTypes.PowerLevels, Alice, string.Empty, version.PrivilegedCreators ? "{\"users\":{}}" : "{\"users\":{\"" + Alice + "\":100}}");
        b.Send("m.room.topic", Alice, string.Empty, """{"topic":"alice"}""");
        b.Send(EventTypes.Member, "@dave:example.com", "@dave:example.com", """{"membership":"join"}""");

        var c = new Branch(room);
        c.Send(EventTypes.Member, Charlie, Charlie, """{"membership":"join","displayname":"C"}""");
        c.Send("m.room.topic", Charlie, string.Empty, """{"topic":"charlie"}""");
        c.Send(EventTypes.JoinRules, Alice, string.Empty, """{"join_rule":"invite"}""");

        var source = new InMemoryStateResolutionSource(room.AllEvents.Concat(a.Events).Concat(b.Events).Concat(c.Events));
        return (room, [a.StateIds, b.StateIds, c.StateIds], source);
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public async Task Result_does_not_depend_on_the_order_of_the_state_sets(string versionId)
    {
        var version = RoomVersion.Find(versionId)!;
        var (_, sets, source) = ThreeWayFork(version);
        var reference = await StateResolver.ResolveAsync(version, sets, source);
        reference.Should().NotBeEmpty();

        int[][] permutations = [[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
        foreach (var p in permutations)
        {
            var result = await StateResolver.ResolveAsync(version, [sets[p[0]], sets[p[1]], sets[p[2]]], source);
            result.Should().BeEquivalentTo(reference, "permutation " + string.Join(",", p));
        }

        // Pairs too.
        (await StateResolver.ResolveAsync(version, [sets[0], sets[1]], source))
            .Should().BeEquivalentTo(await StateResolver.ResolveAsync(version, [sets[1], sets[0]], source));
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public async Task Single_and_identical_sets_resolve_to_themselves(string versionId)
    {
        var version = RoomVersion.Find(versionId)!;
        var (_, sets, source) = ThreeWayFork(version);
        foreach (var set in sets)
        {
            (await StateResolver.ResolveAsync(version, [set], source)).Should().BeEquivalentTo(set);
            (await StateResolver.ResolveAsync(version, [set, set], source)).Should().BeEquivalentTo(set);
            (await StateResolver.ResolveAsync(version, [set, set, set], source)).Should().BeEquivalentTo(set);
        }

        (await StateResolver.ResolveAsync(version, [], source)).Should().BeEmpty();
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public async Task Resolution_is_deterministic_and_picks_from_the_inputs(string versionId)
    {
        var version = RoomVersion.Find(versionId)!;
        var (_, sets, source) = ThreeWayFork(version);
        var first = await StateResolver.ResolveAsync(version, sets, source);
        var second = await StateResolver.ResolveAsync(version, sets, source);
        second.Should().BeEquivalentTo(first);

        // Every resolved entry is an event whose key matches, and keys in every set are kept.
        var all = await source.GetEventsAsync(first.Values.ToList(), default);
        foreach (var (key, id) in first)
        {
            all[id].StateMapKey.Should().Be(key);
        }

        foreach (var key in sets[0].Keys.Intersect(sets[1].Keys).Intersect(sets[2].Keys))
        {
            first.Should().ContainKey(key);
        }
    }

    [Fact]
    public async Task Three_way_fork_outcome_v10()
    {
        var version = RoomVersion.V10;
        var (room, sets, source) = ThreeWayFork(version);
        var result = await StateResolver.ResolveAsync(version, sets, source);

        // B's power levels (Bob demoted) sort first and win; Bob's ban of Charlie then fails; the invite-only join rule
        // applies; Dave's join came before it in his branch but is checked after it, so it fails; the topics are
        // checked by mainline order and only Alice's passes with Bob and Charlie at 0.
        var byId = await source.GetEventsAsync(result.Values.ToList(), default);
        byId[result[new StateKey(EventTypes.PowerLevels, string.Empty)]].Content.GetProperty("users").EnumerateObject().Should().HaveCount(1);
        byId[result[new StateKey("m.room.topic", string.Empty)]].Content.GetProperty("topic").GetString().Should().Be("alice");
        byId[result[new StateKey(EventTypes.Member, Charlie)]].Membership.Should().Be("join");
        byId[result[new StateKey(EventTypes.JoinRules, string.Empty)]].Content.GetProperty("join_rule").GetString().Should().Be("invite");
        result.Should().NotContainKey(new StateKey(EventTypes.Member, "@dave:example.com"));
        room.Should().NotBeNull();
    }

    [Theory]
    [InlineData("10")]
    [InlineData("12")]
    public async Task An_auth_chain_index_gives_the_same_answer_as_walking(string versionId)
    {
        var version = RoomVersion.Find(versionId)!;
        var (room, sets, _) = ThreeWayFork(version);
        var events = room.AllEvents.ToList();
        var (_, _, walking) = ThreeWayFork(version);
        var expected = await StateResolver.ResolveAsync(version, sets, walking);

        var indexed = new NaiveIndexSource(walking);
        var actual = await StateResolver.ResolveAsync(version, sets, indexed);
        actual.Should().BeEquivalentTo(expected);
        indexed.DifferenceCalls.Should().Be(1);
        indexed.SubgraphCalls.Should().Be(version.StateResolution == StateResolutionAlgorithm.V2_1 ? 1 : 0);
        events.Should().NotBeEmpty();
    }

    [Fact]
    public async Task Unknown_events_are_ignored()
    {
        var version = RoomVersion.V10;
        var (_, sets, source) = ThreeWayFork(version);
        var withGhost = new Dictionary<StateKey, string>(sets[0]) { [new StateKey("m.room.name", string.Empty)] = "$ghost" };
        var result = await StateResolver.ResolveAsync(version, [withGhost, sets[1]], source);
        result.Should().NotContainKey(new StateKey("m.room.name", string.Empty));
    }

    [Fact]
    public async Task Cancellation_is_observed()
    {
        var (_, sets, source) = ThreeWayFork(RoomVersion.V10);
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var act = async () => await StateResolver.ResolveAsync(RoomVersion.V10, sets, source, cts.Token);
        await act.Should().ThrowAsync<OperationCanceledException>();
    }

    /// <summary>A source with a (naive) auth chain index: full chains by depth-first search, the events themselves included.</summary>
    private sealed class NaiveIndexSource(InMemoryStateResolutionSource inner) : IStateResolutionSource, IAuthChainIndex
    {
        public int DifferenceCalls { get; private set; }

        public int SubgraphCalls { get; private set; }

        public ValueTask<IReadOnlyDictionary<string, Pdu>> GetEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken) =>
            inner.GetEventsAsync(eventIds, cancellationToken);

        public ValueTask<IReadOnlySet<string>> GetRejectedAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken) =>
            inner.GetRejectedAsync(eventIds, cancellationToken);

        public async ValueTask<IReadOnlySet<string>> GetAuthChainDifferenceAsync(IReadOnlyList<IReadOnlyCollection<string>> stateSets, CancellationToken cancellationToken)
        {
            DifferenceCalls++;
            var chains = new List<HashSet<string>>();
            foreach (var set in stateSets)
            {
                chains.Add(await ChainAsync(set));
            }

            var union = new HashSet<string>(chains.SelectMany(c => c));
            var intersection = new HashSet<string>(chains[0]);
            foreach (var c in chains.Skip(1))
            {
                intersection.IntersectWith(c);
            }

            union.ExceptWith(intersection);
            return union;
        }

        public async ValueTask<IReadOnlySet<string>> GetConflictedSubgraphAsync(IReadOnlyCollection<string> conflictedEvents, CancellationToken cancellationToken)
        {
            SubgraphCalls++;
            var result = new HashSet<string>(conflictedEvents);
            foreach (var from in conflictedEvents)
            {
                foreach (var node in await ChainAsync([from]))
                {
                    // node is on a path from `from` to some conflicted event if a conflicted event is in its chain.
                    var below = await ChainAsync([node]);
                    if (conflictedEvents.Any(c => c != node && below.Contains(c)) || conflictedEvents.Contains(node))
                    {
                        result.Add(node);
                    }
                }
            }

            return result;
        }

        private async Task<HashSet<string>> ChainAsync(IEnumerable<string> starts)
        {
            var seen = new HashSet<string>();
            var stack = new Stack<string>(starts);
            while (stack.Count > 0)
            {
                var id = stack.Pop();
                if (!seen.Add(id))
                {
                    continue;
                }

                var found = await inner.GetEventsAsync([id], default);
                if (found.TryGetValue(id, out var ev))
                {
                    foreach (var a in ev.AuthEventIds)
                    {
                        stack.Push(a);
                    }
                }
            }

            return seen;
        }
    }
}
