using System.Net;
using System.Text.Json;
using Homeserver.Core.Streams;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using static Homeserver.Host.Tests.RoomTestHelpers;

namespace Homeserver.Host.Tests;

public sealed class SearchTests(TestServer server) : IClassFixture<TestServer>
{
    private static object Query(string term, string orderBy = "recent", object? filter = null, object? context = null, bool includeState = false, object? groupings = null) => new
    {
        search_categories = new
        {
            room_events = new { search_term = term, order_by = orderBy, filter, event_context = context, include_state = includeState, groupings },
        },
    };

    /// <summary>A word no other test uses, of consonants after a fixed stem, so that English stemming treats it predictably.</summary>
    private static string Word(string stem) => stem + new string(Guid.NewGuid().ToByteArray().Take(6).Select(b => "bcdfghjklmnpqrtvwxz"[b % 19]).ToArray());

    private static JsonElement RoomEvents(JsonElement response) => response.GetProperty("search_categories").GetProperty("room_events");

    [Fact]
    public async Task Search_finds_messages_names_and_topics_with_stemming_and_highlights()
    {
        var word = Word("zebra");
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { name = $"The {word} room", topic = $"about {word}" });
        var message = await alice.SayAsync(roomId, $"Several {word}s were running");
        await alice.SayAsync(roomId, "nothing to see");

        var result = RoomEvents((await alice.PostAsync("/_matrix/client/v3/search", Query(word))).EnsureOk().Json);
        result.GetProperty("count").GetInt32().Should().Be(3);
        var hits = result.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("result")).ToList();
        hits.Select(h => h.GetProperty("type").GetString()).Should().Equal("m.room.message", "m.room.topic", "m.room.name");
        hits[0].GetProperty("event_id").GetString().Should().Be(message);
        result.GetProperty("highlights").EnumerateArray().Select(h => h.GetString()!.ToLowerInvariant()).Should().Contain(word + "s");

        var onlyBodies = RoomEvents((await alice.PostAsync("/_matrix/client/v3/search", new { search_categories = new { room_events = new { search_term = word, keys = new[] { "content.body" } } } })).EnsureOk().Json);
        onlyBodies.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("result").GetProperty("event_id").GetString()).Should().Equal(message);
        onlyBodies.GetProperty("results")[0].GetProperty("rank").GetDouble().Should().BeGreaterThan(0);
    }

    [Fact]
    public async Task Search_only_covers_rooms_and_events_the_user_may_see()
    {
        var word = Word("okapi");
        var alice = await server.NewUserAsync();
        var bob = await server.NewUserAsync();
        var shared = await alice.CreateRoomAsync(new { preset = "public_chat", initial_state = new[] { new { type = "m.room.history_visibility", state_key = "", content = new { history_visibility = "joined" } } } });
        var privateRoom = await alice.CreateRoomAsync();
        await alice.SayAsync(shared, $"{word} before bob");
        await alice.SayAsync(privateRoom, $"{word} private");
        await bob.JoinAsync(shared);
        var whileIn = await alice.SayAsync(shared, $"{word} while bob is here");
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(shared)}/leave", new { })).EnsureOk();
        await alice.SayAsync(shared, $"{word} after bob left");

        var result = RoomEvents((await bob.PostAsync("/_matrix/client/v3/search", Query(word))).EnsureOk().Json);
        result.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("result").GetProperty("event_id").GetString()).Should().Equal(whileIn);

        var aliceSees = RoomEvents((await alice.PostAsync("/_matrix/client/v3/search", Query(word, filter: new { rooms = new[] { privateRoom } }))).EnsureOk().Json);
        aliceSees.GetProperty("results").GetArrayLength().Should().Be(1);
    }

    [Fact]
    public async Task Search_pages_with_next_batch_and_returns_context_state_and_groups()
    {
        var word = Word("lemur");
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var sent = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            sent.Add(await alice.SayAsync(roomId, $"{word} number {i}"));
        }

        var first = RoomEvents((await alice.PostAsync("/_matrix/client/v3/search", Query(word, filter: new { limit = 3 }))).EnsureOk().Json);
        first.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("result").GetProperty("event_id").GetString()).Should().Equal(sent[4], sent[3], sent[2]);
        var next = first.GetProperty("next_batch").GetString()!;
        var second = RoomEvents((await alice.PostAsync("/_matrix/client/v3/search?next_batch=" + Esc(next), Query(word, filter: new { limit = 3 }))).EnsureOk().Json);
        second.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("result").GetProperty("event_id").GetString()).Should().Equal(sent[1], sent[0]);
        second.TryGetProperty("next_batch", out _).Should().BeFalse();

        var ranked = RoomEvents((await alice.PostAsync("/_matrix/client/v3/search", Query(word, "rank", new { limit = 2 }))).EnsureOk().Json);
        ranked.GetProperty("results").GetArrayLength().Should().Be(2);
        var rankedNext = RoomEvents((await alice.PostAsync("/_matrix/client/v3/search?next_batch=" + Esc(ranked.GetProperty("next_batch").GetString()!), Query(word, "rank", new { limit = 10 }))).EnsureOk().Json);
        rankedNext.GetProperty("results").GetArrayLength().Should().Be(3);

        var withContext = RoomEvents((await alice.PostAsync("/_matrix/client/v3/search", Query(word, filter: new { limit = 1 }, context: new { before_limit = 1, after_limit = 1, include_profile = true }, includeState: true,
            groupings: new { group_by = new[] { new { key = "room_id" } } }))).EnsureOk().Json);
        var top = withContext.GetProperty("results")[0];
        top.GetProperty("context").GetProperty("events_before").Ids().Should().Equal(sent[3]);
        top.GetProperty("context").GetProperty("events_after").EnumerateArray().Should().BeEmpty();
        top.GetProperty("context").GetProperty("profile_info").TryGetProperty(alice.UserId!, out _).Should().BeTrue();
        withContext.GetProperty("state").GetProperty(roomId).EnumerateArray().Should().Contain(e => e.GetProperty("type").GetString() == "m.room.create");
        withContext.GetProperty("groups").GetProperty("room_id").GetProperty(roomId).GetProperty("results").EnumerateArray().Select(e => e.GetString()).Should().Equal(sent[4]);
    }

    [Fact]
    public async Task Bad_search_requests_are_400()
    {
        var alice = await server.NewUserAsync();
        (await alice.PostAsync("/_matrix/client/v3/search", new { })).ErrCode.Should().Be("M_MISSING_PARAM");
        (await alice.PostAsync("/_matrix/client/v3/search", new { search_categories = new { room_events = new { } } })).ErrCode.Should().Be("M_MISSING_PARAM");
        (await alice.PostAsync("/_matrix/client/v3/search", Query("x", "sideways"))).ErrCode.Should().Be("M_INVALID_PARAM");
        (await alice.PostAsync("/_matrix/client/v3/search", new { search_categories = new { room_events = new { search_term = "x", keys = new[] { "content.nope" } } } })).ErrCode.Should().Be("M_INVALID_PARAM");
        (await alice.PostAsync("/_matrix/client/v3/search?next_batch=zzz", Query("x"))).ErrCode.Should().Be("M_INVALID_PARAM");
        var empty = (await alice.PostAsync("/_matrix/client/v3/search", new { search_categories = new { } })).EnsureOk().Json;
        empty.GetProperty("search_categories").EnumerateObject().Should().BeEmpty();
        var nothing = RoomEvents((await alice.PostAsync("/_matrix/client/v3/search", Query("\"unterminated & | !"))).EnsureOk().Json);
        nothing.GetProperty("count").GetInt32().Should().Be(0);
        var nul = RoomEvents((await alice.PostAsync("/_matrix/client/v3/search", Query("a\u0000b", filter: new { senders = new[] { "@x\u0000:y" } }))).EnsureOk().Json);
        nul.GetProperty("count").GetInt32().Should().Be(0);
    }
    [Fact]
    public async Task Concurrent_senders_each_find_their_own_message_as_soon_as_it_is_sent()
    {
        // The search rows of local sends are written after the event (SearchIndexer): a search waits for those of the
        // events it may see. Eight senders in one room, so that their events share the writer's batches.
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat" });
        var senders = new List<MatrixClient> { alice };
        for (var i = 1; i < 8; i++)
        {
            var member = await server.NewUserAsync();
            await member.JoinAsync(roomId);
            senders.Add(member);
        }

        var found = await Task.WhenAll(senders.Select(async sender =>
        {
            var hits = new List<bool>();
            for (var round = 0; round < 3; round++)
            {
                var word = Word("wombat");
                var sent = await sender.SayAsync(roomId, $"{word} from a sender");
                var result = RoomEvents((await sender.PostAsync("/_matrix/client/v3/search", Query(word))).EnsureOk().Json);
                hits.Add(result.GetProperty("results").EnumerateArray().Any(r => r.GetProperty("result").GetProperty("event_id").GetString() == sent));
            }

            return hits;
        }));

        found.SelectMany(h => h).Should().OnlyContain(hit => hit);
    }
}

/// <summary>
/// The search rows a stop left unwritten (the indexer writes local events' rows after them) are written at the next
/// start, from the position the indexer recorded; a redacted event gets none.
/// </summary>
public sealed class SearchIndexRecoveryTests : IAsyncLifetime
{
    private readonly TestServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task Rows_missing_after_a_stop_are_written_at_the_next_start_except_for_redacted_events()
    {
        var word = "quokka" + new string(Guid.NewGuid().ToByteArray().Take(6).Select(b => "bcdfghjklmnpqrtvwxz"[b % 19]).ToArray());
        var alice = await _server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var kept = await alice.SayAsync(roomId, $"{word} kept");
        var redacted = await alice.SayAsync(roomId, $"{word} redacted");
        (await SearchAsync(alice, word)).Should().BeEquivalentTo([kept, redacted]);
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/redact/{Esc(redacted)}/{Guid.NewGuid():N}", new { })).EnsureOk();
        var later = await alice.SayAsync(roomId, "a later message");
        await _server.StopAsync();

        // As a crash before the indexer wrote them would leave the database: no rows, and the position before them.
        await using var db = NpgsqlDataSource.Create(_server.Database.ConnectionString);
        await ExecuteAsync(db, $"DELETE FROM event_search WHERE event_nid IN (SELECT event_nid FROM events WHERE event_id IN ('{kept}', '{redacted}'))");
        await ExecuteAsync(db, $"UPDATE search_index_position SET stream_ordering = (SELECT stream_ordering - 1 FROM events WHERE event_id = '{kept}')");
        (await SearchRowsAsync(db, kept, redacted)).Should().Be(0);

        await _server.RestartAsync();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        List<string> hits;
        while ((hits = await SearchAsync(alice, word)).Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        hits.Should().Equal(kept);
        (await SearchRowsAsync(db, redacted)).Should().Be(0);
        var position = await ScalarAsync(db, "SELECT stream_ordering FROM search_index_position");
        position.Should().BeGreaterThanOrEqualTo(await ScalarAsync(db, $"SELECT stream_ordering FROM events WHERE event_id = '{later}'"));
    }

    [Fact]
    public async Task A_stop_writes_the_queued_rows_and_records_their_position()
    {
        var alice = await _server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var sent = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            sent.Add(await alice.SayAsync(roomId, $"message number {i}"));
        }

        await _server.StopAsync();
        await using var db = NpgsqlDataSource.Create(_server.Database.ConnectionString);
        (await SearchRowsAsync(db, [.. sent])).Should().Be(20);
        (await ScalarAsync(db, "SELECT stream_ordering FROM search_index_position"))
            .Should().BeGreaterThanOrEqualTo(await ScalarAsync(db, $"SELECT stream_ordering FROM events WHERE event_id = '{sent[^1]}'"));
        await _server.RestartAsync();
    }

    [Fact]
    public async Task The_recorded_position_follows_events_without_rows_while_idle()
    {
        var alice = await _server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var message = await alice.SayAsync(roomId, "a message");
        await using var db = NpgsqlDataSource.Create(_server.Database.ConnectionString);
        var position = "SELECT stream_ordering FROM search_index_position";
        (await SearchAsync(alice, "message")).Should().Contain(message);

        // Events with nothing to index: no rows would move the position to them, only the idle tick does.
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/org.example.setting/", new { on = true })).EnsureOk();
        (await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/org.example.ping/{Guid.NewGuid():N}", new { })).EnsureOk();
        var current = _server.Services.GetRequiredService<StreamPositions>().Current;
        await WaitUntilAsync(async () => await ScalarAsync(db, position) >= current, "the position should follow the stream within 20 s");
    }

    private static async Task<List<string>> SearchAsync(MatrixClient client, string word)
    {
        var body = new { search_categories = new { room_events = new { search_term = word } } };
        var result = (await client.PostAsync("/_matrix/client/v3/search", body)).EnsureOk().Json.GetProperty("search_categories").GetProperty("room_events");
        return result.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("result").GetProperty("event_id").GetString()!).ToList();
    }

    private static Task<long> SearchRowsAsync(NpgsqlDataSource db, params string[] eventIds) =>
        ScalarAsync(db, $"SELECT count(*) FROM event_search s JOIN events e USING (event_nid) WHERE e.event_id IN ({string.Join(", ", eventIds.Select(id => $"'{id}'"))})");
}
