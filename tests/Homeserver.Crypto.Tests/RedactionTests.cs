using Homeserver.Core;
using static Homeserver.Crypto.Tests.TestSupport;

namespace Homeserver.Crypto.Tests;

/// <summary>
/// The redaction algorithms of the room version pages (rooms/v1, v6, v8, v9, v11). Each case is an event of one
/// special type with extra keys everywhere, and the exact redacted output expected for each rule set. The expected
/// content was written from the spec text and cross-checked with the independent Python implementation in
/// Vectors/generate_vectors.py (function redact).
/// </summary>
public sealed class RedactionTests
{
    private static readonly RoomVersion[] RuleSets = [RoomVersion.V1, RoomVersion.V6, RoomVersion.V8, RoomVersion.V9, RoomVersion.V11];

    /// <summary>type, content, then the expected content under rules v1, v6, v8, v9, v11.</summary>
    public static TheoryData<string, string, string[]> Cases => new()
    {
        {
            "m.room.member",
            """{"membership":"join","displayname":"A","avatar_url":"mxc://x/y","join_authorised_via_users_server":"@u:x","reason":"r","third_party_invite":{"display_name":"d","signed":{"mxid":"@a:x","token":"t","signatures":{}}}}""",
            [
                """{"membership":"join"}""",
                """{"membership":"join"}""",
                """{"membership":"join"}""",
                """{"join_authorised_via_users_server":"@u:x","membership":"join"}""",
                """{"join_authorised_via_users_server":"@u:x","membership":"join","third_party_invite":{"signed":{"mxid":"@a:x","signatures":{},"token":"t"}}}""",
            ]
        },
        {
            "m.room.member",
            """{"membership":"invite","third_party_invite":{"display_name":"d"}}""",
            [
                """{"membership":"invite"}""",
                """{"membership":"invite"}""",
                """{"membership":"invite"}""",
                """{"membership":"invite"}""",
                """{"membership":"invite","third_party_invite":{}}""",
            ]
        },
        {
            "m.room.member",
            """{"membership":"invite","third_party_invite":"not an object"}""",
            [
                """{"membership":"invite"}""",
                """{"membership":"invite"}""",
                """{"membership":"invite"}""",
                """{"membership":"invite"}""",
                """{"membership":"invite"}""",
            ]
        },
        {
            "m.room.create",
            """{"creator":"@a:x","room_version":"1","m.federate":false,"predecessor":{"room_id":"!o:x","event_id":"$e"}}""",
            [
                """{"creator":"@a:x"}""",
                """{"creator":"@a:x"}""",
                """{"creator":"@a:x"}""",
                """{"creator":"@a:x"}""",
                """{"creator":"@a:x","m.federate":false,"predecessor":{"event_id":"$e","room_id":"!o:x"},"room_version":"1"}""",
            ]
        },
        {
            "m.room.join_rules",
            """{"join_rule":"restricted","allow":[{"type":"m.room_membership","room_id":"!r:x"}],"extra":1}""",
            [
                """{"join_rule":"restricted"}""",
                """{"join_rule":"restricted"}""",
                """{"allow":[{"room_id":"!r:x","type":"m.room_membership"}],"join_rule":"restricted"}""",
                """{"allow":[{"room_id":"!r:x","type":"m.room_membership"}],"join_rule":"restricted"}""",
                """{"allow":[{"room_id":"!r:x","type":"m.room_membership"}],"join_rule":"restricted"}""",
            ]
        },
        {
            "m.room.power_levels",
            """{"ban":50,"events":{"m.room.name":100},"events_default":0,"invite":50,"kick":51,"redact":52,"state_default":53,"users":{"@a:x":100},"users_default":1,"notifications":{"room":50},"historical":100}""",
            [
                """{"ban":50,"events":{"m.room.name":100},"events_default":0,"kick":51,"redact":52,"state_default":53,"users":{"@a:x":100},"users_default":1}""",
                """{"ban":50,"events":{"m.room.name":100},"events_default":0,"kick":51,"redact":52,"state_default":53,"users":{"@a:x":100},"users_default":1}""",
                """{"ban":50,"events":{"m.room.name":100},"events_default":0,"kick":51,"redact":52,"state_default":53,"users":{"@a:x":100},"users_default":1}""",
                """{"ban":50,"events":{"m.room.name":100},"events_default":0,"kick":51,"redact":52,"state_default":53,"users":{"@a:x":100},"users_default":1}""",
                """{"ban":50,"events":{"m.room.name":100},"events_default":0,"invite":50,"kick":51,"redact":52,"state_default":53,"users":{"@a:x":100},"users_default":1}""",
            ]
        },
        {
            "m.room.aliases",
            """{"aliases":["#a:x"],"other":1}""",
            ["""{"aliases":["#a:x"]}""", "{}", "{}", "{}", "{}"]
        },
        {
            "m.room.history_visibility",
            """{"history_visibility":"shared","x":1}""",
            [
                """{"history_visibility":"shared"}""",
                """{"history_visibility":"shared"}""",
                """{"history_visibility":"shared"}""",
                """{"history_visibility":"shared"}""",
                """{"history_visibility":"shared"}""",
            ]
        },
        {
            "m.room.redaction",
            """{"redacts":"$e","reason":"spam"}""",
            ["{}", "{}", "{}", "{}", """{"redacts":"$e"}"""]
        },
        {
            "m.room.message",
            """{"body":"hi","msgtype":"m.text","membership":"join","creator":"@a:x"}""",
            ["{}", "{}", "{}", "{}", "{}"]
        },
        {
            "m.room.name",
            "\"content that is not an object\"",
            ["{}", "{}", "{}", "{}", "{}"]
        },
        {
            "m.room.create",
            "[\"odd\"]",
            ["{}", "{}", "{}", "{}", "[\"odd\"]"]
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_rule_set_keeps_exactly_the_protected_keys(string type, string content, string[] expectedContent)
    {
        for (var i = 0; i < RuleSets.Length; i++)
        {
            var version = RuleSets[i];
            var redacted = Utf8(Redaction.Redact(Parse(Event(type, content)), version));
            redacted.Should().Be(Expected(type, expectedContent[i], version.Redaction), $"rules {version.Redaction}");
        }
    }

    [Fact]
    public void Every_room_version_uses_its_documented_rule_set()
    {
        // v1-v5: v1 rules; v6-v7: v6; v8: v8; v9-v10: v9; v11-v12: v11 (v12 reuses the v11 fragment).
        RoomVersion.All.Select(v => v.Redaction).Should().Equal(
            RedactionRules.V1, RedactionRules.V1, RedactionRules.V1, RedactionRules.V1, RedactionRules.V1,
            RedactionRules.V6, RedactionRules.V6, RedactionRules.V8, RedactionRules.V9, RedactionRules.V9,
            RedactionRules.V11, RedactionRules.V11);
    }

    [Fact]
    public void A_missing_content_stays_missing()
    {
        Utf8(Redaction.Redact(Parse("{\"type\":\"m.room.member\",\"sender\":\"@a:x\",\"unsigned\":{}}"), RoomVersion.V11))
            .Should().Be("{\"sender\":\"@a:x\",\"type\":\"m.room.member\"}");
    }

    [Fact]
    public void Redacting_is_idempotent()
    {
        foreach (var version in RuleSets)
        {
            var once = Redaction.Redact(Parse(Event("m.room.member", "{\"membership\":\"join\",\"third_party_invite\":{\"signed\":{}},\"x\":1}")), version);
            Redaction.Redact(Parse(once), version).Should().Equal(once);
        }
    }

    [Fact]
    public void Redaction_in_legacy_versions_keeps_python_style_numbers_and_strict_versions_reject_floats()
    {
        const string ev = "{\"type\":\"m.room.power_levels\",\"content\":{\"ban\":50.0,\"body\":1.5},\"depth\":1}";
        Utf8(Redaction.Redact(Parse(ev), RoomVersion.V5)).Should().Be("{\"content\":{\"ban\":50.0},\"depth\":1,\"type\":\"m.room.power_levels\"}");
        var strict = () => Redaction.Redact(Parse(ev), RoomVersion.V6);
        strict.Should().Throw<CanonicalJsonException>().Which.Path.Should().Be("content.ban");
        Utf8(Redaction.Redact(Parse(ev.Replace("50.0", "50", StringComparison.Ordinal)), RoomVersion.V6))
            .Should().Be("{\"content\":{\"ban\":50},\"depth\":1,\"type\":\"m.room.power_levels\"}", "removed keys are not validated");
    }

    [Fact]
    public void Redaction_can_be_written_to_a_buffer_writer()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        Redaction.Redact(Parse(Event("m.room.message", "{\"body\":\"x\"}")), RoomVersion.V11, buffer);
        Utf8(buffer.WrittenSpan.ToArray()).Should().Be(Expected("m.room.message", "{}", RedactionRules.V11));
    }

    [Fact]
    public void Non_objects_cannot_be_redacted()
    {
        var act = () => Redaction.Redact(Parse("[]"), RoomVersion.V1);
        act.Should().Throw<ArgumentException>();
    }

    /// <summary>An event with every top-level key the algorithms mention, plus some they do not.</summary>
    private static string Event(string type, string content) =>
        "{\"auth_events\":[\"$a\"],\"content\":" + content + ",\"depth\":5,\"event_id\":\"$ev:x\",\"foo\":\"bar\","
        + "\"hashes\":{\"sha256\":\"abc\"},\"membership\":\"join\",\"origin\":\"x\",\"origin_server_ts\":1234,"
        + "\"prev_events\":[\"$p\"],\"prev_state\":[],\"redacts\":\"$e\",\"room_id\":\"!r:x\",\"sender\":\"@a:x\","
        + "\"signatures\":{\"x\":{\"ed25519:1\":\"sig\"}},\"state_key\":\"\",\"type\":\"" + type + "\","
        + "\"unsigned\":{\"age_ts\":1,\"replaces_state\":\"$old\",\"redacted_because\":{}}}";

    /// <summary>
    /// The kept top-level keys in canonical order: v11 drops membership, origin and prev_state; no version keeps
    /// foo, redacts (top-level) or unsigned.
    /// </summary>
    private static string Expected(string type, string content, RedactionRules rules) => rules >= RedactionRules.V11
        ? "{\"auth_events\":[\"$a\"],\"content\":" + content + ",\"depth\":5,\"event_id\":\"$ev:x\","
          + "\"hashes\":{\"sha256\":\"abc\"},\"origin_server_ts\":1234,\"prev_events\":[\"$p\"],\"room_id\":\"!r:x\","
          + "\"sender\":\"@a:x\",\"signatures\":{\"x\":{\"ed25519:1\":\"sig\"}},\"state_key\":\"\",\"type\":\"" + type + "\"}"
        : "{\"auth_events\":[\"$a\"],\"content\":" + content + ",\"depth\":5,\"event_id\":\"$ev:x\","
          + "\"hashes\":{\"sha256\":\"abc\"},\"membership\":\"join\",\"origin\":\"x\",\"origin_server_ts\":1234,"
          + "\"prev_events\":[\"$p\"],\"prev_state\":[],\"room_id\":\"!r:x\",\"sender\":\"@a:x\","
          + "\"signatures\":{\"x\":{\"ed25519:1\":\"sig\"}},\"state_key\":\"\",\"type\":\"" + type + "\"}";
}
