using System.Text.Json;
using FluentAssertions;
using Homeserver.Core;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Storage.Rooms;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary>
/// The rows statement of a persisted batch is made of the parts the batch has (relations and the threads they move,
/// search rows, the room's position or only its extremities, conflict checks for events that may be stored already):
/// every combination, run against a migrated database, writes exactly the rows its batch has and moves the room's row
/// as it should.
/// </summary>
public sealed class PersistWritesTests(PersistWritesTests.Room room) : IClassFixture<PersistWritesTests.Room>
{
    private const long RoomNid = 1;
    private const long OldExtremity = 100;
    private const long Nid = 1_000;

    public enum PositionChange
    {
        None,
        ExtremitiesOnly,
        Position,
    }

    public static TheoryData<bool, bool, bool, PositionChange> Combinations()
    {
        var data = new TheoryData<bool, bool, bool, PositionChange>();
        foreach (var newlyBuilt in new[] { true, false })
        {
            foreach (var relation in new[] { true, false })
            {
                foreach (var search in new[] { true, false })
                {
                    foreach (var position in Enum.GetValues<PositionChange>())
                    {
                        data.Add(newlyBuilt, relation, search, position);
                    }
                }
            }
        }

        return data;
    }

    /// <summary>A migrated database with one room at stream position 5, snapshot 1, one forward extremity.</summary>
    public sealed class Room : IAsyncLifetime
    {
        private MigratedDatabase _database = null!;

        public NpgsqlDataSource Db => _database.Db;

        public async Task InitializeAsync() => _database = await MigratedDatabase.CreateAsync($"""
            INSERT INTO rooms (room_nid, room_id, room_version, created_ts) VALUES ({RoomNid}, '!room:test', '12', 0);
            INSERT INTO state_snapshots (snapshot_nid, room_nid, chain_length, entry_count, content_hash, delta_keys, delta_events)
            VALUES (1, {RoomNid}, 0, 0, '\x00', '{"{}"}', '{"{}"}'), (2, {RoomNid}, 0, 0, '\x01', '{"{}"}', '{"{}"}');
            INSERT INTO room_current_snapshot (room_nid, snapshot_nid, last_stream_ordering, forward_extremities)
            VALUES ({RoomNid}, 1, 5, '{"{"}{OldExtremity}{"}"}');
            """);

        public async Task DisposeAsync() => await _database.DisposeAsync();
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public async Task Each_part_of_a_batch_is_written_and_nothing_else(bool newlyBuilt, bool relation, bool search, PositionChange position)
    {
        // Each case writes in a transaction it rolls back: every case starts from the same room.
        const long nid = Nid;
        const long stream = Nid;
        var pdu = Event(nid, relation, search);
        var writes = new PersistWrites();
        writes.AddEvent(nid, new EventToPersist(pdu, new StateBefore.Existing(1)), keyNid: null, stream, before: 1, after: 1);
        var sideRows = new EventSideRows();
        sideRows.Add(nid, pdu, withSearch: true, timeline: (nid, stream));

        await using var conn = await room.Db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await writes.ExecuteAsync(
            conn, tx, RoomNid, sideRows, [],
            extremitiesRemoved: position == PositionChange.None ? [] : [OldExtremity],
            extremitiesAdded: position == PositionChange.None ? [] : [nid],
            roomPosition: position == PositionChange.Position ? (2, stream) : null,
            newlyBuilt, CancellationToken.None);

        (await CountAsync(conn, tx, $"SELECT count(*) FROM events WHERE event_nid = {nid} AND stream_ordering = {stream}")).Should().Be(1);
        (await CountAsync(conn, tx, $"SELECT count(*) FROM event_prev_events WHERE event_nid = {nid} AND prev_event_id = '$previous'")).Should().Be(1);
        (await CountAsync(conn, tx, $"SELECT count(*) FROM event_relations WHERE event_nid = {nid} AND relates_to_id = '$parent'")).Should().Be(relation ? 1 : 0);
        (await CountAsync(conn, tx, $"SELECT count(*) FROM event_search WHERE event_nid = {nid} AND vector @@ to_tsquery('english', 'giraffe')")).Should().Be(search ? 1 : 0);
        (await CountAsync(conn, tx, $"SELECT count(*) FROM threads WHERE thread_id = '$parent' AND latest_event_nid = {nid} AND stream_ordering = {stream}")).Should().Be(relation ? 1 : 0);
        (await CountAsync(conn, tx, "SELECT count(*) FROM thread_participants WHERE thread_id = '$parent' AND user_id = '@alice:test'")).Should().Be(relation ? 1 : 0);
        (await CountAsync(conn, tx, "SELECT count(*) FROM thread_participants")).Should().Be(relation ? 1 : 0);
        (await CountAsync(conn, tx, "SELECT snapshot_nid FROM room_current_snapshot")).Should().Be(position == PositionChange.Position ? 2 : 1);
        (await CountAsync(conn, tx, "SELECT last_stream_ordering FROM room_current_snapshot")).Should().Be(position == PositionChange.Position ? stream : 5);
        (await CountAsync(conn, tx, "SELECT forward_extremities[1] FROM room_current_snapshot")).Should().Be(position == PositionChange.None ? OldExtremity : nid);
        (await CountAsync(conn, tx, "SELECT cardinality(forward_extremities) FROM room_current_snapshot")).Should().Be(1);
        await tx.RollbackAsync();
    }

    [Fact]
    public async Task A_thread_keeps_its_latest_reply_and_counts_only_replies_in_the_timeline()
    {
        await using var conn = await room.Db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();

        // Two replies in one batch: the later one is the thread's latest.
        await PersistAsync(conn, tx, (Nid + 1, (Nid + 1, Nid + 1)), (Nid + 2, (Nid + 2, Nid + 2)));
        (await CountAsync(conn, tx, "SELECT latest_event_nid FROM threads WHERE thread_id = '$parent'")).Should().Be(Nid + 2);

        // An earlier reply arriving later (backfill, a late event of a fork) does not move it back.
        await PersistAsync(conn, tx, (Nid + 3, (Nid, Nid + 3)));
        (await CountAsync(conn, tx, "SELECT latest_event_nid FROM threads WHERE thread_id = '$parent'")).Should().Be(Nid + 2);

        // A reply outside the timeline (an outlier, a soft-failed event) has its relation but moves no thread.
        await PersistAsync(conn, tx, (Nid + 4, null));
        (await CountAsync(conn, tx, "SELECT latest_event_nid FROM threads WHERE thread_id = '$parent'")).Should().Be(Nid + 2);
        (await CountAsync(conn, tx, $"SELECT count(*) FROM event_relations WHERE event_nid = {Nid + 4}")).Should().Be(1);

        // A later reply moves it forward.
        await PersistAsync(conn, tx, (Nid + 5, (Nid + 5, Nid + 5)));
        (await CountAsync(conn, tx, "SELECT latest_event_nid FROM threads WHERE thread_id = '$parent'")).Should().Be(Nid + 5);
        (await CountAsync(conn, tx, "SELECT count(*) FROM threads")).Should().Be(1);
        await tx.RollbackAsync();
    }

    [Fact]
    public async Task Repliers_and_the_roots_sender_take_part_in_a_thread_whichever_arrives_first()
    {
        await using var conn = await room.Db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();

        // Replies whose root is not held yet (backfill brings replies before their root): their senders take part,
        // but bob's reply outside the timeline (an outlier) does not make him a participant.
        await PersistAsync(conn, tx, (Nid + 1, (Nid + 1, Nid + 1)), (Nid + 2, (Nid + 2, Nid + 2)));
        await PersistAsync(conn, tx, [(Nid + 3, null)], sender: "@bob:test");
        (await ParticipantsAsync(conn, tx, "$parent")).Should().Equal("@alice:test");

        // The root arrives (a batch of events that may be stored already): its sender takes part.
        await PersistRemoteAsync(conn, tx, Event(Nid + 4, relation: false, search: false, sender: "@carol:test", eventId: "$parent"));
        (await ParticipantsAsync(conn, tx, "$parent")).Should().Equal("@alice:test", "@carol:test");

        // A root held before its first reply: its sender takes part with the replier, here a newly built reply.
        await PersistRemoteAsync(conn, tx, Event(Nid + 5, relation: false, search: false, sender: "@dave:test", eventId: "$other"));
        (await ParticipantsAsync(conn, tx, "$other")).Should().BeEmpty("a root is no thread until it has a reply");
        await PersistAsync(conn, tx, [(Nid + 6, (Nid + 6, Nid + 6))], sender: "@erin:test", threadId: "$other");
        (await ParticipantsAsync(conn, tx, "$other")).Should().Equal("@dave:test", "@erin:test");

        // A root and its reply in one remote batch.
        await PersistRemoteAsync(
            conn, tx,
            Event(Nid + 7, relation: false, search: false, sender: "@frank:test", eventId: "$third"),
            Event(Nid + 8, relation: true, search: false, sender: "@grace:test", threadId: "$third"));
        (await ParticipantsAsync(conn, tx, "$third")).Should().Equal("@frank:test", "@grace:test");
        await tx.RollbackAsync();
    }

    private static async Task<List<string>> ParticipantsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string threadId)
    {
        await using var command = new NpgsqlCommand($"SELECT user_id FROM thread_participants WHERE room_nid = {RoomNid} AND thread_id = '{threadId}' ORDER BY user_id", conn, tx);
        await using var reader = await command.ExecuteReaderAsync();
        var users = new List<string>();
        while (await reader.ReadAsync())
        {
            users.Add(reader.GetString(0));
        }

        return users;
    }

    /// <summary>Persists events as a batch that may hold stored events (remote events, backfill), each in the timeline.</summary>
    private static Task PersistRemoteAsync(NpgsqlConnection conn, NpgsqlTransaction tx, params Pdu[] events) =>
        WriteBatchAsync(conn, tx, [.. events.Select(pdu => (pdu, ((long Topological, long Stream)?)(pdu.Depth, pdu.Depth)))], newlyBuilt: false);

    /// <summary>Persists thread replies (to $parent) as one newly built batch, each with its place in the timeline or none.</summary>
    private static Task PersistAsync(NpgsqlConnection conn, NpgsqlTransaction tx, params (long Nid, (long Topological, long Stream)? Timeline)[] replies) =>
        PersistAsync(conn, tx, replies, "@alice:test");

    private static Task PersistAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, (long Nid, (long Topological, long Stream)? Timeline)[] replies, string sender, string threadId = "$parent") =>
        WriteBatchAsync(conn, tx, [.. replies.Select(r => (Event(r.Nid, relation: true, search: false, sender, threadId: threadId), r.Timeline))], newlyBuilt: true);

    /// <summary>One batch of events (each numbered by its depth), with their place in the timeline or none.</summary>
    private static async Task WriteBatchAsync(NpgsqlConnection conn, NpgsqlTransaction tx, (Pdu Event, (long Topological, long Stream)? Timeline)[] events, bool newlyBuilt)
    {
        var writes = new PersistWrites();
        var sideRows = new EventSideRows();
        foreach (var (pdu, timeline) in events)
        {
            writes.AddEvent(pdu.Depth, new EventToPersist(pdu, new StateBefore.Existing(1)), keyNid: null, timeline?.Stream, before: 1, after: 1);
            sideRows.Add(pdu.Depth, pdu, withSearch: false, timeline);
        }

        await writes.ExecuteAsync(conn, tx, RoomNid, sideRows, [], [], [], roomPosition: null, newlyBuilt, CancellationToken.None);
    }

    /// <summary>A message (searchable) or a custom event (not), with or without a thread relation.</summary>
    private static Pdu Event(long nid, bool relation, bool search, string sender = "@alice:test", string? eventId = null, string threadId = "$parent")
    {
        var content = new Dictionary<string, object>();
        if (search)
        {
            content["msgtype"] = "m.text";
            content["body"] = "a giraffe in the garden";
        }

        if (relation)
        {
            content["m.relates_to"] = new { rel_type = "m.thread", event_id = threadId };
        }

        var json = JsonSerializer.SerializeToElement(new Dictionary<string, object>
        {
            ["type"] = search ? "m.room.message" : "org.example.thing",
            ["room_id"] = "!room:test",
            ["sender"] = sender,
            ["content"] = content,
            ["depth"] = nid,
            ["origin_server_ts"] = nid,
            ["prev_events"] = new[] { "$previous" },
            ["auth_events"] = new[] { "$create" },
            ["hashes"] = new { sha256 = "aGFzaA" },
            ["signatures"] = new { },
        });
        return Pdu.Parse(json, RoomVersion.Find("12")!, eventId ?? $"$event{nid}");
    }

    private static async Task<long> CountAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql)
    {
        await using var command = new NpgsqlCommand(sql, conn, tx);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
