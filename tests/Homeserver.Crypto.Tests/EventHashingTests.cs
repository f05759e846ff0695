using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Homeserver.Core;
using static Homeserver.Crypto.Tests.TestSupport;

namespace Homeserver.Crypto.Tests;

public sealed class EventHashingTests
{
    /// <summary>The "MESSAGE" event of Vectors/generate_vectors.py, with the hashes it computed.</summary>
    private const string Message = """
        {"auth_events": ["$create", "$power"], "content": {"body": "héllo 😀", "msgtype": "m.text"}, "depth": 12,
         "hashes": {"sha256": "AyHBqre/+DJzDRF4Qv3CfUt1Sagvd71eEsCzA45oLGw"}, "origin": "example.org",
         "origin_server_ts": 1700000000000, "prev_events": ["$prev"], "room_id": "!room:example.org",
         "sender": "@alice:example.org", "signatures": {"example.org": {"ed25519:1": "ignored"}},
         "type": "m.room.message", "unsigned": {"age": 5}}
        """;

    [Fact]
    public void The_content_hash_matches_python()
    {
        // generate_vectors.py: "message content hash".
        UnpaddedBase64.Encode(EventHashing.ComputeContentHash(Parse(Message))).Should().Be("AyHBqre/+DJzDRF4Qv3CfUt1Sagvd71eEsCzA45oLGw");
        EventHashing.CheckContentHash(Parse(Message)).Should().Be(ContentHashCheck.Valid);
    }

    [Fact]
    public void The_content_hash_ignores_unsigned_signatures_and_hashes_only()
    {
        var original = EventHashing.ComputeContentHash(Parse(Message));
        var node = JsonNode.Parse(Message)!.AsObject();
        node["unsigned"] = new JsonObject { ["age"] = 99 };
        node["signatures"] = new JsonObject();
        node["hashes"] = new JsonObject { ["sha512"] = "x" };
        EventHashing.ComputeContentHash(Parse(node.ToJsonString())).Should().Equal(original);

        node["depth"] = 13;
        EventHashing.ComputeContentHash(Parse(node.ToJsonString())).Should().NotEqual(original);
    }

    [Fact]
    public void Adding_the_content_hash_replaces_hashes_and_keeps_everything_else()
    {
        var withHash = Parse(EventHashing.AddContentHash(Parse("{\"type\":\"X\",\"hashes\":{\"sha256\":\"old\",\"other\":\"x\"},\"unsigned\":{\"a\":1}}")));
        withHash.GetProperty("hashes").EnumerateObject().Select(p => p.Name).Should().Equal("sha256");
        withHash.GetProperty("unsigned").GetProperty("a").GetInt32().Should().Be(1);
        EventHashing.CheckContentHash(withHash).Should().Be(ContentHashCheck.Valid);
    }

    [Theory]
    [InlineData("{\"type\":\"X\"}", ContentHashCheck.Missing)]
    [InlineData("{\"type\":\"X\",\"hashes\":{}}", ContentHashCheck.Missing)]
    [InlineData("{\"type\":\"X\",\"hashes\":{\"sha256\":5}}", ContentHashCheck.Missing)]
    [InlineData("{\"type\":\"X\",\"hashes\":\"x\"}", ContentHashCheck.Missing)]
    [InlineData("{\"type\":\"X\",\"hashes\":{\"sha256\":\"!!\"}}", ContentHashCheck.Malformed)]
    [InlineData("{\"type\":\"X\",\"hashes\":{\"sha256\":\"AAAA\"}}", ContentHashCheck.Malformed)]
    [InlineData("{\"type\":\"X\",\"hashes\":{\"sha256\":\"AyHBqre/+DJzDRF4Qv3CfUt1Sagvd71eEsCzA45oLGw\"}}", ContentHashCheck.Mismatch)]
    [InlineData("[]", ContentHashCheck.Missing)]
    public void Content_hash_checks_report_the_reason(string json, ContentHashCheck expected) =>
        EventHashing.CheckContentHash(Parse(json)).Should().Be(expected);

    [Theory]
    [InlineData("3", "$7dOrNC/UpBbpoH70bQI6NNWTTPJuVNCzC2F+2IOTmPQ")]
    [InlineData("4", "$7dOrNC_UpBbpoH70bQI6NNWTTPJuVNCzC2F-2IOTmPQ")]
    [InlineData("5", "$7dOrNC_UpBbpoH70bQI6NNWTTPJuVNCzC2F-2IOTmPQ")]
    [InlineData("10", "$7dOrNC_UpBbpoH70bQI6NNWTTPJuVNCzC2F-2IOTmPQ")]
    [InlineData("11", "$jPo1V8N1U881KtgDO9SgTwOyRDPj7gIGcgKjf1xnDg8")]
    [InlineData("12", "$jPo1V8N1U881KtgDO9SgTwOyRDPj7gIGcgKjf1xnDg8")]
    public void Event_ids_match_python_for_each_format(string versionId, string expected)
    {
        // generate_vectors.py: "message event id v3", "... v4" (v1 redaction rules, used by v3-v10 alike since the
        // event has no special type) and "... v11" (v11 rules drop "origin").
        var version = RoomVersion.Find(versionId)!;
        EventHashing.ComputeEventId(Parse(Message), version).Should().Be(expected);
        EventHashing.GetEventId(Parse(Message), version).Should().Be(expected);
    }

    [Fact]
    public void The_reference_hash_ignores_signatures_unsigned_and_redactable_content()
    {
        var original = EventHashing.ComputeReferenceHash(Parse(Message), RoomVersion.V10);
        var node = JsonNode.Parse(Message)!.AsObject();
        node["signatures"] = new JsonObject { ["other.org"] = new JsonObject { ["ed25519:x"] = "y" } };
        node["unsigned"] = new JsonObject { ["age"] = 1 };
        node["content"] = new JsonObject();
        EventHashing.ComputeReferenceHash(Parse(node.ToJsonString()), RoomVersion.V10).Should().Equal(original,
            "a redacted copy of an event has the same ID");

        node["hashes"] = new JsonObject { ["sha256"] = "different" };
        EventHashing.ComputeReferenceHash(Parse(node.ToJsonString()), RoomVersion.V10).Should().NotEqual(original,
            "the reference hash covers the content hash");
    }

    [Fact]
    public void V1_and_v2_event_ids_are_read_from_the_event()
    {
        var ev = Parse("{\"event_id\":\"$abc:example.org\",\"type\":\"X\"}");
        EventHashing.GetEventId(ev, RoomVersion.V1).Should().Be("$abc:example.org");
        EventHashing.GetEventId(ev, RoomVersion.V2).Should().Be("$abc:example.org");

        var compute = () => EventHashing.ComputeEventId(ev, RoomVersion.V2);
        compute.Should().Throw<ArgumentException>();
        var missing = () => EventHashing.GetEventId(Parse("{\"type\":\"X\"}"), RoomVersion.V1);
        missing.Should().Throw<FormatException>();
    }

    [Fact]
    public void Server_generated_event_ids_have_the_v1_shape_and_are_unique()
    {
        var a = EventHashing.GenerateServerEventId("example.org:8448");
        var b = EventHashing.GenerateServerEventId("example.org:8448");
        a.Should().MatchRegex("^\\$[A-Za-z0-9]{24}:example\\.org:8448$");
        a.Should().NotBe(b);

        var bad = () => EventHashing.GenerateServerEventId("not a server");
        bad.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Room_ids_come_from_the_create_event_only_in_v12()
    {
        var create = Parse("{\"type\":\"m.room.create\",\"content\":{},\"sender\":\"@a:x\",\"state_key\":\"\",\"hashes\":{\"sha256\":\"x\"}}");
        var roomId = EventHashing.ComputeRoomId(create, RoomVersion.V12);
        roomId.Should().Be("!" + EventHashing.ComputeEventId(create, RoomVersion.V12)[1..]);
        Regex.IsMatch(roomId, "^![A-Za-z0-9_-]{43}$").Should().BeTrue();

        var v11 = () => EventHashing.ComputeRoomId(create, RoomVersion.V11);
        v11.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Legacy_content_hashes_follow_python_numbers()
    {
        // generate_vectors.py: "legacy content hash", whose canonical form is
        // {"auth_events":[],"content":{"e":1e+100,"f":1.5,"i":12345678901234567890,"s":1e-07,"w":1e+16,"z":-0.0},...}
        const string ev = """
            {"content": {"f": 1.5, "i": 12345678901234567890, "z": -0.0, "e": 1e100, "s": 1e-7, "w": 1e16},
             "event_id": "$legacy:example.org", "type": "m.room.message", "room_id": "!r:example.org",
             "sender": "@a:example.org", "origin_server_ts": 1, "depth": 1, "prev_events": [], "auth_events": []}
            """;
        UnpaddedBase64.Encode(EventHashing.ComputeContentHash(Parse(ev), RoomVersion.V1)).Should().Be("1EcFppa6KLs5nhRcFYMVOEqcpVL6u/E6yU4jyGUu5yQ");
        Canonical(ev, CanonicalJsonMode.Legacy).Should().Contain("\"content\":{\"e\":1e+100,\"f\":1.5,\"i\":12345678901234567890,\"s\":1e-07,\"w\":1e+16,\"z\":-0.0}");
        var strict = () => EventHashing.ComputeContentHash(Parse(ev), RoomVersion.V6);
        strict.Should().Throw<CanonicalJsonException>();
    }
}
