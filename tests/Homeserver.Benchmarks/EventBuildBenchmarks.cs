using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using Homeserver.Core;
using Homeserver.Crypto;
using Homeserver.Rooms.Events;

namespace Homeserver.Benchmarks;

/// <summary>
/// Building one message event as the room writer does for every send (content hash, event ID, parsing the result; the
/// Ed25519 signature waits until the event leaves), in room versions 10 and 12: the writer builds a batch's events one after another.
/// </summary>
[MemoryDiagnoser]
public class EventBuildBenchmarks
{
    private readonly EventFactory _factory = new("bench.example", Ed25519SigningKey.Generate("bench"));
    private readonly string[] _prev = ["$Qk1nzrxg0B5B3lCPq3Vw8xnbDSVXzBT0T9cBqnMpJcI"];
    private readonly string[] _auth =
    [
        "$rM0Kb0QPx7mnTfO6fpeJjE4Kk9cLf4jsp6t9U5nP3cA",
        "$h0y1qmDqJ0b0QvRIXhZ8k3w2GkTQ2XqK3BN6rQ7i0Eg",
        "$8d7YpA0kz9n9kJp3b8f2Qq5t0m6vF4x1L2c3V4b5N6M",
    ];

    private RoomVersion _version = null!;
    private EventDraft _draft = null!;
    private long _depth;

    [Params("10", "12")]
    public string Version { get; set; } = "10";

    [GlobalSetup]
    public void Setup()
    {
        _version = RoomVersion.Find(Version)!;
        _draft = new EventDraft(
            "m.room.message",
            null,
            new JsonObject { ["msgtype"] = "m.text", ["body"] = "a message of about the length people type into a chat" },
            "@alice:bench.example");
    }

    [Benchmark(Description = "build a message event")]
    public string Build() =>
        _factory.BuildLocal(_version, "!room:bench.example", _draft, _prev, _auth, ++_depth, 1_764_000_000_000).EventId;
}
