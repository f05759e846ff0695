using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using Homeserver.Core;
using Homeserver.Crypto;
using Homeserver.Rooms;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.StateRes;

namespace Homeserver.Benchmarks;

/// <summary>
/// State resolution of a fork with 1,000 conflicting state events (the same 1,000 keys set differently on two
/// branches), plus 250 unconflicted joins on each branch, for room versions 10 and 12. Pure: events in memory.
/// </summary>
[MemoryDiagnoser]
public class StateResolutionBenchmarks
{
    private const string Alice = "@alice:bench.example";

    private InMemoryStateResolutionSource _source = null!;
    private IReadOnlyDictionary<StateKey, string>[] _sets = null!;
    private RoomVersion _version = null!;

    [Params("10", "12")]
    public string Version { get; set; } = "10";

    [GlobalSetup]
    public void Setup()
    {
        _version = RoomVersion.Find(Version)!;
        var fork = ConflictingFork.Build(_version, conflicting: 1000, joinsPerBranch: 250);
        _source = new InMemoryStateResolutionSource(fork.Events);
        _sets = [fork.StateA, fork.StateB];
    }

    [Benchmark(Description = "resolve 1,000 conflicting state events")]
    public async Task<int> ResolveFork() => (await StateResolver.ResolveAsync(_version, _sets, _source)).Count;

    /// <summary>A room built with our event factory, forked into two branches after its initial state.</summary>
    public sealed class ConflictingFork
    {
        private readonly EventFactory _factory = new("bench.example", Ed25519SigningKey.Generate("bench"));
        private readonly RoomVersion _version;
        private readonly List<Pdu> _events = [];
        private string? _roomId;
        private long _ts = 1_700_000_000_000;

        private ConflictingFork(RoomVersion version) => _version = version;

        public IReadOnlyList<Pdu> Events => _events;

        public IReadOnlyDictionary<StateKey, string> StateA { get; private set; } = null!;

        public IReadOnlyDictionary<StateKey, string> StateB { get; private set; } = null!;

        public static ConflictingFork Build(RoomVersion version, int conflicting, int joinsPerBranch)
        {
            var fork = new ConflictingFork(version);
            var state = new Dictionary<StateKey, string>();
            var byId = new Dictionary<string, Pdu>();
            string? last = null;
            long depth = 0;

            Pdu Send(Dictionary<StateKey, string> st, ref string? prev, ref long d, string type, string sender, string? stateKey, JsonObject content)
            {
                var element = JsonSerializer.SerializeToElement(content);
                var authIds = AuthEventsSelection.GetRequiredKeys(fork._version, type, stateKey, sender, element)
                    .Where(st.ContainsKey).Select(k => st[k]).ToList();
                d++;
                var pdu = fork._factory.BuildLocal(fork._version, type == EventTypes.Create && fork._version.RoomIdIsCreateEventHash ? null : fork._roomId,
                    new EventDraft(type, stateKey, content, sender), prev is null ? [] : [prev], authIds, d, fork._ts++, id => byId.GetValueOrDefault(id));
                if (type == EventTypes.Create)
                {
                    fork._roomId ??= pdu.RoomId;
                }

                byId[pdu.EventId] = pdu;
                fork._events.Add(pdu);
                if (stateKey is not null)
                {
                    st[new StateKey(type, stateKey)] = pdu.EventId;
                }

                prev = pdu.EventId;
                return pdu;
            }

            if (!version.RoomIdIsCreateEventHash)
            {
                fork._roomId = "!bench:bench.example";
            }

            var create = new JsonObject { ["room_version"] = version.Id };
            if (!version.ImplicitRoomCreator)
            {
                create["creator"] = Alice;
            }

            Send(state, ref last, ref depth, EventTypes.Create, Alice, string.Empty, create);
            Send(state, ref last, ref depth, EventTypes.Member, Alice, Alice, new JsonObject { ["membership"] = "join" });
            var users = version.PrivilegedCreators ? new JsonObject() : new JsonObject { [Alice] = 100 };
            Send(state, ref last, ref depth, EventTypes.PowerLevels, Alice, string.Empty, new JsonObject { ["users"] = users, ["state_default"] = 0 });
            Send(state, ref last, ref depth, EventTypes.JoinRules, Alice, string.Empty, new JsonObject { ["join_rule"] = "public" });

            var a = new Dictionary<StateKey, string>(state);
            var b = new Dictionary<StateKey, string>(state);
            string? lastA = last, lastB = last;
            long depthA = depth, depthB = depth;
            for (var i = 0; i < conflicting; i++)
            {
                var key = "k" + i.ToString(CultureInfo.InvariantCulture);
                Send(a, ref lastA, ref depthA, "org.example.counter", Alice, key, new JsonObject { ["side"] = "a" });
                Send(b, ref lastB, ref depthB, "org.example.counter", Alice, key, new JsonObject { ["side"] = "b" });
            }

            for (var i = 0; i < joinsPerBranch; i++)
            {
                var ua = "@a" + i.ToString(CultureInfo.InvariantCulture) + ":bench.example";
                var ub = "@b" + i.ToString(CultureInfo.InvariantCulture) + ":bench.example";
                Send(a, ref lastA, ref depthA, EventTypes.Member, ua, ua, new JsonObject { ["membership"] = "join" });
                Send(b, ref lastB, ref depthB, EventTypes.Member, ub, ub, new JsonObject { ["membership"] = "join" });
            }

            fork.StateA = a;
            fork.StateB = b;
            return fork;
        }
    }
}
