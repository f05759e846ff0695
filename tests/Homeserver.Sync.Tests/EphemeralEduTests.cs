using System.Text.Json;
using Homeserver.Sync.Federation;
using Homeserver.Sync.Presence;
using Homeserver.Sync.Receipts;

namespace Homeserver.Sync.Tests;

/// <summary>The wire formats of m.typing, m.receipt and m.presence: what we send, and what we believe of what others send.</summary>
public sealed class EphemeralEduTests
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    [Fact]
    public void A_typing_edu_is_built_with_the_three_fields_of_the_spec()
    {
        var edu = EphemeralEdus.BuildTyping("!r:a.org", "@u:a.org", typing: true);
        edu.GetRawText().Should().Be("""{"room_id":"!r:a.org","user_id":"@u:a.org","typing":true}""");
    }

    [Fact]
    public void A_receipt_edu_nests_room_type_and_user_and_carries_the_thread_only_when_threaded()
    {
        var unthreaded = EphemeralEdus.BuildReceipt(new Receipt("!r:a.org", ReceiptTypes.Read, "@u:a.org", string.Empty, "$e", 1234, 7));
        unthreaded.GetRawText().Should().Be("""{"!r:a.org":{"m.read":{"@u:a.org":{"event_ids":["$e"],"data":{"ts":1234}}}}}""");
        var threaded = EphemeralEdus.BuildReceipt(new Receipt("!r:a.org", ReceiptTypes.Read, "@u:a.org", "$root", "$e", 1234, 7));
        threaded.GetProperty("!r:a.org").GetProperty("m.read").GetProperty("@u:a.org").GetProperty("data").GetProperty("thread_id").GetString().Should().Be("$root");
    }

    [Fact]
    public void A_presence_edu_always_has_last_active_ago_and_currently_active_only_when_online()
    {
        var online = new UserPresence("@u:a.org", PresenceStates.Online, "cooking", 9_000, 0, CurrentlyActive: true, StreamId: 3);
        var offline = new UserPresence("@v:a.org", PresenceStates.Offline, null, 0, 0, CurrentlyActive: false, StreamId: 4);
        var edu = EphemeralEdus.BuildPresence([online, offline], now: 10_000);
        var push = edu.GetProperty("push").EnumerateArray().ToList();
        push[0].GetRawText().Should().Be("""{"user_id":"@u:a.org","presence":"online","last_active_ago":1000,"status_msg":"cooking","currently_active":true}""");
        push[1].GetRawText().Should().Be("""{"user_id":"@v:a.org","presence":"offline","last_active_ago":10000}""");
    }

    [Fact]
    public void What_we_build_is_what_we_parse()
    {
        EphemeralEdus.ParseTyping(EphemeralEdus.BuildTyping("!r:a.org", "@u:a.org", false)).Should().Be(new TypingEdu("!r:a.org", "@u:a.org", false));

        var receipts = EphemeralEdus.ParseReceipts(EphemeralEdus.BuildReceipt(new Receipt("!r:a.org", ReceiptTypes.Read, "@u:a.org", "main", "$e", 5, 1)), out var skipped);
        skipped.Should().Be(0);
        receipts.Should().ContainSingle().Which.Should().BeEquivalentTo(new ReceiptEdu("!r:a.org", "m.read", "@u:a.org", ["$e"], 5, "main"));

        var presence = EphemeralEdus.ParsePresence(
            EphemeralEdus.BuildPresence([new UserPresence("@u:a.org", PresenceStates.Online, "hi", 90, 0, true, 1)], now: 100), out skipped);
        skipped.Should().Be(0);
        presence.Should().Equal(new PresenceEdu("@u:a.org", PresenceStates.Online, "hi", 10, true));
    }

    public static TheoryData<string> MalformedTyping => new()
    {
        "\"a string\"",
        "[]",
        "{}",
        """{"room_id":"!r:a.org","user_id":"@u:a.org"}""",
        """{"room_id":"!r:a.org","user_id":"@u:a.org","typing":"yes"}""",
        """{"room_id":"!r:a.org","user_id":"@u:a.org","typing":1}""",
        """{"room_id":"r:a.org","user_id":"@u:a.org","typing":true}""",
        """{"room_id":"!r:a.org","user_id":"u:a.org","typing":true}""",
        """{"room_id":"!r:a.org","user_id":"@u","typing":true}""",
        """{"room_id":42,"user_id":"@u:a.org","typing":true}""",
        """{"room_id":"!r:a.org","user_id":null,"typing":true}""",
    };

    [Theory]
    [MemberData(nameof(MalformedTyping))]
    public void A_malformed_typing_edu_is_not_parsed(string content) => EphemeralEdus.ParseTyping(Json(content)).Should().BeNull();

    [Fact]
    public void Receipt_entries_are_parsed_one_by_one_and_bad_ones_are_skipped()
    {
        var content = Json("""
            {
              "not a room": {"m.read": {"@a:x.org": {"event_ids": ["$1"], "data": {"ts": 1}}}},
              "!bad:x.org": "not an object",
              "!r:x.org": {
                "m.read": {
                  "@good:x.org": {"event_ids": ["$1"], "data": {"ts": 1}},
                  "@threaded:x.org": {"event_ids": ["$2"], "data": {"ts": 2, "thread_id": "$root"}},
                  "@badthread:x.org": {"event_ids": ["$3"], "data": {"ts": 3, "thread_id": 17}},
                  "@emptythread:x.org": {"event_ids": ["$3"], "data": {"ts": 3, "thread_id": ""}},
                  "not a user": {"event_ids": ["$1"], "data": {"ts": 1}},
                  "@nots:x.org": {"event_ids": ["$1"], "data": {}},
                  "@strts:x.org": {"event_ids": ["$1"], "data": {"ts": "1"}},
                  "@fracts:x.org": {"event_ids": ["$1"], "data": {"ts": 1.5}},
                  "@noids:x.org": {"event_ids": [], "data": {"ts": 1}},
                  "@badids:x.org": {"event_ids": [1, "not an event", null], "data": {"ts": 1}},
                  "@someids:x.org": {"event_ids": [1, "$4"], "data": {"ts": 1}},
                  "@nodata:x.org": {"event_ids": ["$1"]},
                  "@notobject:x.org": ["$1"]
                },
                "m.read.private": {"@private:x.org": {"event_ids": ["$1"], "data": {"ts": 1}}},
                "m.weird": 12
              }
            }
            """);
        var receipts = EphemeralEdus.ParseReceipts(content, out var skipped);
        receipts.Select(r => (r.UserId, r.ReceiptType, string.Join(",", r.EventIds), r.ThreadId)).Should().BeEquivalentTo(new[]
        {
            ("@good:x.org", "m.read", "$1", (string?)null),
            ("@threaded:x.org", "m.read", "$2", "$root"),
            ("@badthread:x.org", "m.read", "$3", null),
            ("@emptythread:x.org", "m.read", "$3", null),
            ("@someids:x.org", "m.read", "$4", null),
            ("@private:x.org", "m.read.private", "$1", null),
        });
        skipped.Should().Be(11);
    }

    [Theory]
    [InlineData("\"text\"")]
    [InlineData("[]")]
    [InlineData("null")]
    public void A_receipt_edu_that_is_not_an_object_yields_nothing(string content)
    {
        EphemeralEdus.ParseReceipts(Json(content), out var skipped).Should().BeEmpty();
        skipped.Should().Be(1);
    }

    [Fact]
    public void The_event_ids_of_one_receipt_are_capped()
    {
        var ids = string.Join(",", Enumerable.Range(0, 50).Select(i => $"\"$e{i}\""));
        var receipts = EphemeralEdus.ParseReceipts(Json("""{"!r:x.org":{"m.read":{"@u:x.org":{"event_ids":[""" + ids + """],"data":{"ts":1}}}}}"""), out _);
        receipts.Single().EventIds.Should().HaveCount(EphemeralEdus.MaxReceiptEventIds);
    }

    [Fact]
    public void Presence_updates_are_parsed_one_by_one_and_bad_ones_are_skipped()
    {
        var content = Json("""
            {"push": [
              {"user_id": "@full:x.org", "presence": "online", "status_msg": "here", "last_active_ago": 5, "currently_active": true},
              {"user_id": "@minimal:x.org", "presence": "unavailable"},
              {"user_id": "@nullmsg:x.org", "presence": "offline", "status_msg": null, "last_active_ago": null, "currently_active": "yes"},
              {"user_id": "@badmsg:x.org", "presence": "online", "status_msg": 7, "last_active_ago": 0},
              {"user_id": "@busy:x.org", "presence": "busy", "last_active_ago": 1},
              {"user_id": "not a user", "presence": "online", "last_active_ago": 1},
              {"presence": "online", "last_active_ago": 1},
              {"user_id": "@negative:x.org", "presence": "online", "last_active_ago": -1},
              {"user_id": "@fraction:x.org", "presence": "online", "last_active_ago": 1.5},
              {"user_id": "@text:x.org", "presence": "online", "last_active_ago": "1"},
              "not an object",
              42
            ]}
            """);
        var updates = EphemeralEdus.ParsePresence(content, out var skipped);
        updates.Should().Equal(
            new PresenceEdu("@full:x.org", "online", "here", 5, true),
            new PresenceEdu("@minimal:x.org", "unavailable", null, null, false),
            new PresenceEdu("@nullmsg:x.org", "offline", null, null, false),
            new PresenceEdu("@badmsg:x.org", "online", null, 0, false));
        skipped.Should().Be(8);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"push": {}}""")]
    [InlineData("""{"push": null}""")]
    [InlineData("[]")]
    public void A_presence_edu_without_a_push_list_yields_nothing(string content)
    {
        EphemeralEdus.ParsePresence(Json(content), out var skipped).Should().BeEmpty();
        skipped.Should().Be(1);
    }
}
