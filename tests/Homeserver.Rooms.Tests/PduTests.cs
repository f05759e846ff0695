using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;

namespace Homeserver.Rooms.Tests;

public sealed class PduTests
{
    private const string V1Event = """
        {"event_id":"$abc:example.com","room_id":"!r:example.com","sender":"@alice:example.com","type":"m.room.member",
         "state_key":"@alice:example.com","content":{"membership":"join"},"depth":3,"origin_server_ts":1234,"origin":"example.com",
         "prev_events":[["$p:example.com",{"sha256":"x"}]],"auth_events":[["$c:example.com",{"sha256":"x"}],["$pl:example.com",{"sha256":"y"}]],
         "hashes":{"sha256":"h"},"signatures":{"example.com":{"ed25519:a":"s"}},"unsigned":{"age":4}}
        """;

    private const string V4Event = """
        {"room_id":"!r:example.com","sender":"@alice:example.com","type":"m.room.redaction","redacts":"$target",
         "content":{"redacts":"$incontent"},"depth":3,"origin_server_ts":1234,
         "prev_events":["$p"],"auth_events":["$c","$pl"],"hashes":{"sha256":"h"},"signatures":{}}
        """;

    private static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement;

    [Fact]
    public void Parses_v1_event_with_id_hash_pairs()
    {
        var pdu = Pdu.Parse(Parse(V1Event), RoomVersion.V1);
        pdu.EventId.Should().Be("$abc:example.com");
        pdu.RoomId.Should().Be("!r:example.com");
        pdu.StateKey.Should().Be("@alice:example.com");
        pdu.StateMapKey.Should().Be(new StateKey("m.room.member", "@alice:example.com"));
        pdu.Membership.Should().Be("join");
        pdu.AuthEventIds.Should().Equal("$c:example.com", "$pl:example.com");
        pdu.PrevEventIds.Should().Equal("$p:example.com");
        pdu.Depth.Should().Be(3);
        pdu.OriginServerTs.Should().Be(1234);
        pdu.Origin.Should().Be("example.com");
        pdu.Unsigned!.Value.GetProperty("age").GetInt32().Should().Be(4);
        pdu.RoomVersion.Should().Be(RoomVersion.V1);
        pdu.Content.GetProperty("membership").GetString().Should().Be("join");

        var act = () => Pdu.Parse(Parse(V1Event), RoomVersion.V2, "$other:example.com");
        act.Should().Throw<InvalidPduException>().WithMessage("*does not match*");
    }

    [Fact]
    public void Owns_its_json()
    {
        Pdu pdu;
        using (var doc = JsonDocument.Parse(V1Event))
        {
            pdu = Pdu.Parse(doc.RootElement, RoomVersion.V1);
        }

        pdu.Content.GetProperty("membership").GetString().Should().Be("join");
        pdu.Json.GetProperty("type").GetString().Should().Be("m.room.member");
    }

    [Theory]
    [InlineData("4", "$target")]
    [InlineData("10", "$target")]
    [InlineData("11", "$incontent")]
    public void Redacts_moves_into_content_in_v11(string version, string expected)
    {
        Pdu.Parse(Parse(V4Event), RoomVersion.Find(version)!, "$id").Redacts.Should().Be(expected);
    }

    [Fact]
    public void V11_falls_back_to_top_level_redacts()
    {
        var node = JsonNode.Parse(V4Event)!.AsObject();
        node["content"] = new JsonObject();
        Pdu.Parse(Parse(node.ToJsonString()), RoomVersion.V11, "$id").Redacts.Should().Be("$target");
    }

    [Fact]
    public void V12_create_has_no_room_id_and_others_may_not_cite_it()
    {
        var create = """
            {"sender":"@alice:example.com","type":"m.room.create","state_key":"","content":{},"depth":1,"origin_server_ts":1,
             "prev_events":[],"auth_events":[],"hashes":{"sha256":"h"},"signatures":{}}
            """;
        var pdu = Pdu.Parse(Parse(create), RoomVersion.V12, "$createhash");
        pdu.RoomId.Should().Be("!createhash");

        var withRoom = JsonNode.Parse(create)!.AsObject();
        withRoom["room_id"] = "!createhash";
        var act = () => Pdu.Parse(Parse(withRoom.ToJsonString()), RoomVersion.V12, "$createhash");
        act.Should().Throw<InvalidPduException>().WithMessage("*room_id*");

        // In v11 a create event needs its room_id.
        var v11 = () => Pdu.Parse(Parse(create), RoomVersion.V11, "$createhash");
        v11.Should().Throw<InvalidPduException>().WithMessage("*room_id*");

        var citing = JsonNode.Parse(V4Event)!.AsObject();
        citing["room_id"] = "!createhash";
        citing["auth_events"] = new JsonArray("$createhash", "$pl");
        var cite = () => Pdu.Parse(Parse(citing.ToJsonString()), RoomVersion.V12, "$x");
        cite.Should().Throw<InvalidPduException>().WithMessage("*m.room.create*");
        Pdu.Parse(Parse(citing.ToJsonString()), RoomVersion.V11, "$x").AuthEventIds.Should().Contain("$createhash");
    }

    [Theory]
    [InlineData("type", "5")]
    [InlineData("type", null)]
    [InlineData("sender", "\"alice\"")]
    [InlineData("sender", null)]
    [InlineData("room_id", "\"room\"")]
    [InlineData("room_id", null)]
    [InlineData("content", "[]")]
    [InlineData("content", null)]
    [InlineData("state_key", "5")]
    [InlineData("depth", "\"3\"")]
    [InlineData("depth", "-1")]
    [InlineData("depth", "1.5")]
    [InlineData("depth", "9007199254740992")]
    [InlineData("origin_server_ts", null)]
    [InlineData("prev_events", "[5]")]
    [InlineData("prev_events", "{}")]
    [InlineData("auth_events", "[[\"$a\",{}]]")]
    [InlineData("auth_events", "[\"nodollar\"]")]
    [InlineData("auth_events", "[\"$1\",\"$2\",\"$3\",\"$4\",\"$5\",\"$6\",\"$7\",\"$8\",\"$9\",\"$10\",\"$11\"]")]
    [InlineData("hashes", "{}")]
    [InlineData("signatures", null)]
    [InlineData("unsigned", "5")]
    public void Malformed_events_throw_InvalidPduException(string field, string? value)
    {
        var node = JsonNode.Parse(V4Event)!.AsObject();
        node.Remove(field);
        if (value is not null)
        {
            node[field] = JsonNode.Parse(value);
        }

        var act = () => Pdu.Parse(Parse(node.ToJsonString()), RoomVersion.V10, "$id");
        act.Should().Throw<InvalidPduException>().WithMessage("*" + field + "*");
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"event\"")]
    [InlineData("null")]
    public void Non_objects_throw_InvalidPduException(string json)
    {
        var act = () => Pdu.Parse(Parse(json), RoomVersion.V10, "$id");
        act.Should().Throw<InvalidPduException>();
    }

    [Fact]
    public void V1_pairs_must_be_pairs_and_event_id_is_required()
    {
        var node = JsonNode.Parse(V1Event)!.AsObject();
        node["prev_events"] = new JsonArray("$p:example.com");
        var act = () => Pdu.Parse(Parse(node.ToJsonString()), RoomVersion.V1);
        act.Should().Throw<InvalidPduException>().WithMessage("*pairs*");

        var noId = JsonNode.Parse(V1Event)!.AsObject();
        noId.Remove("event_id");
        var act2 = () => Pdu.Parse(Parse(noId.ToJsonString()), RoomVersion.V1);
        act2.Should().Throw<InvalidPduException>().WithMessage("*event_id*");
    }

    [Fact]
    public void Mutated_events_only_ever_throw_InvalidPduException()
    {
        // A deterministic fuzz: replace each value anywhere in the event by values of other JSON kinds.
        var replacements = new[] { "null", "5", "-1", "1.5", "\"s\"", "[]", "{}", "[[]]", "true", "\"$x\"", "[\"$a\", {}]" };
        foreach (var (source, version, id) in new[] { (V1Event, RoomVersion.V1, (string?)null), (V4Event, RoomVersion.V11, "$id") })
        {
            foreach (var path in Paths(JsonNode.Parse(source)!, string.Empty))
            {
                foreach (var replacement in replacements)
                {
                    var node = JsonNode.Parse(source)!;
                    Replace(node, path, JsonNode.Parse(replacement));
                    try
                    {
                        Pdu.Parse(Parse(node.ToJsonString()), version, id);
                    }
                    catch (InvalidPduException)
                    {
                    }
                }
            }
        }
    }

    private static IEnumerable<string> Paths(JsonNode node, string prefix)
    {
        if (node is JsonObject obj)
        {
            foreach (var (key, child) in obj)
            {
                var path = prefix + "/" + key;
                yield return path;
                if (child is not null)
                {
                    foreach (var p in Paths(child, path))
                    {
                        yield return p;
                    }
                }
            }
        }
        else if (node is JsonArray arr)
        {
            for (var i = 0; i < arr.Count; i++)
            {
                var path = prefix + "/" + i;
                yield return path;
                if (arr[i] is { } child)
                {
                    foreach (var p in Paths(child, path))
                    {
                        yield return p;
                    }
                }
            }
        }
    }

    private static void Replace(JsonNode root, string path, JsonNode? value)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var node = root;
        for (var i = 0; i < parts.Length - 1; i++)
        {
            node = node is JsonArray a ? a[int.Parse(parts[i], System.Globalization.CultureInfo.InvariantCulture)]! : node[parts[i]]!;
        }

        if (node is JsonArray arr)
        {
            arr[int.Parse(parts[^1], System.Globalization.CultureInfo.InvariantCulture)] = value;
        }
        else
        {
            node[parts[^1]] = value;
        }
    }
}
