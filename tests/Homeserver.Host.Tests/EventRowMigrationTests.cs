using Homeserver.Storage;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary>
/// Migrations of the event rows and what is written with them, against a database the previous release left: 0013 moves
/// the client transactions of stored events onto their rows (where readers now find unsigned.transaction_id), and the
/// auth edges, which every event's JSON holds, are no longer a table; 0014-0015 the search position and the transaction
/// index; 0017 the forward extremities onto the room's row; 0018 a row per thread with its latest reply; 0019 the JIT
/// compiler off for the database; 0020 who took part in each thread.
/// </summary>
public sealed class EventRowMigrationTests
{
    [Fact]
    public async Task Migration_0013_moves_each_events_transaction_onto_its_row()
    {
        await using var schema = await SchemaBeforeAsync(13);
        var db = schema.Db;

        // $e1 was sent by alice's DEV1 with a transaction, $e2 came from elsewhere, and $e3's transaction row names
        // another user than its sender (which no send writes): it must not be taken for the sender's.
        await RoomTestHelpers.ExecuteAsync(db, """
            INSERT INTO rooms (room_id, room_version, created_ts) VALUES ('!room:test', '10', 0);
            INSERT INTO events (event_id, room_nid, event_type, sender, depth, origin_server_ts, stream_ordering, topological_ordering, json)
            SELECT '$e' || s, r.room_nid, 'm.room.message', '@alice:test', s, s, s, s, '{}'
            FROM rooms r, generate_series(1, 3) AS s;
            INSERT INTO event_auth_events (event_nid, auth_event_id) SELECT event_nid, '$create' FROM events;
            INSERT INTO event_txn_ids (user_id, device_id, txn_id, event_id, created_ts) VALUES
                ('@alice:test', 'DEV1', 'txn-1', '$e1', 0),
                ('@bob:test', 'DEV2', 'txn-3', '$e3', 0);
            """);

        await schema.MigrateAsync();

        (await RowsAsync(db, "SELECT event_id || ':' || coalesce(txn_device_id, '-') || ':' || coalesce(txn_id, '-') FROM events ORDER BY event_id"))
            .Should().Equal("$e1:DEV1:txn-1", "$e2:-:-", "$e3:-:-");

        // A retried send finds its transaction on the event row (0015 made that the only place).
        (await RowsAsync(db, "SELECT event_id FROM events WHERE sender = '@alice:test' AND txn_device_id = 'DEV1' AND txn_id = 'txn-1'"))
            .Should().Equal("$e1");
        (await RowsAsync(db, "SELECT count(*)::text FROM pg_tables WHERE tablename IN ('event_auth_events', 'event_txn_ids')")).Should().Equal("0");
    }

    [Fact]
    public async Task Migrations_0014_and_0015_record_the_search_position_and_make_a_transaction_unique_on_its_event()
    {
        await using var schema = await SchemaBeforeAsync(14);
        var db = schema.Db;
        await RoomTestHelpers.ExecuteAsync(db, """
            INSERT INTO rooms (room_id, room_version, created_ts) VALUES ('!room:test', '10', 0);
            INSERT INTO events (event_id, room_nid, event_type, sender, depth, origin_server_ts, stream_ordering, topological_ordering, json, txn_device_id, txn_id)
            SELECT '$e' || s, r.room_nid, 'm.room.message', '@alice:test', s, s, s, s, '{}', 'DEV1', 'txn-' || s
            FROM rooms r, generate_series(1, 3) AS s;
            INSERT INTO event_txn_ids (user_id, device_id, txn_id, event_id, created_ts) SELECT sender, txn_device_id, txn_id, event_id, 0 FROM events;
            """);

        await schema.MigrateAsync();

        // Every search row so far was written with its event: the indexer starts after the newest event.
        (await RowsAsync(db, "SELECT stream_ordering::text FROM search_index_position")).Should().Equal("3");
        (await RowsAsync(db, "SELECT count(*)::text FROM pg_tables WHERE tablename = 'event_txn_ids'")).Should().Equal("0");

        // A second event with the same client transaction is refused by the index a retried send fails on.
        var duplicate = async () => await RoomTestHelpers.ExecuteAsync(db, """
            INSERT INTO events (event_id, room_nid, event_type, sender, depth, origin_server_ts, stream_ordering, topological_ordering, json, txn_device_id, txn_id)
            SELECT '$again', room_nid, 'm.room.message', '@alice:test', 4, 4, 4, 4, '{}', 'DEV1', 'txn-2' FROM rooms
            """);
        (await duplicate.Should().ThrowAsync<PostgresException>()).Which.ConstraintName.Should().Be("events_txn");

        // Another device's transaction of the same name, and events without one, are not affected.
        await RoomTestHelpers.ExecuteAsync(db, """
            INSERT INTO events (event_id, room_nid, event_type, sender, depth, origin_server_ts, stream_ordering, topological_ordering, json, txn_device_id, txn_id)
            SELECT '$other' || s, room_nid, 'm.room.message', '@alice:test', 4 + s, 4 + s, 4 + s, 4 + s, '{}', CASE WHEN s = 1 THEN 'DEV2' END, CASE WHEN s = 1 THEN 'txn-2' END
            FROM rooms, generate_series(1, 3) AS s
            """);
    }

    [Fact]
    public async Task Migration_0017_moves_the_forward_extremities_onto_the_rooms_row()
    {
        await using var schema = await SchemaBeforeAsync(17);
        var db = schema.Db;

        // !forked has two extremities; !quiet a row and none. !bare and !outlier have extremities but no current-snapshot
        // row (none is expected: an extremity comes with a stream position, and with it the row); !bare's newest has a
        // state, which its row is made with, !outlier's has none and the room is left without extremities.
        await RoomTestHelpers.ExecuteAsync(db, """
            INSERT INTO rooms (room_nid, room_id, room_version, created_ts)
            VALUES (1, '!forked:test', '10', 0), (2, '!bare:test', '10', 0), (3, '!quiet:test', '10', 0), (4, '!outlier:test', '10', 0);
            INSERT INTO state_snapshots (snapshot_nid, room_nid, chain_length, entry_count, content_hash, delta_keys, delta_events)
            SELECT r, r, 0, 0, '\x00', '{}', '{}' FROM generate_series(1, 3) AS r;
            INSERT INTO events (event_id, room_nid, event_type, sender, depth, origin_server_ts, stream_ordering, topological_ordering, state_after, json)
            VALUES ('$e1', 1, 'm.room.message', '@alice:test', 1, 1, 1, 1, 1, '{}'), ('$e2', 1, 'm.room.message', '@alice:test', 2, 2, 2, 2, 1, '{}'),
                   ('$e3', 2, 'm.room.message', '@alice:test', 3, 3, 3, 3, NULL, '{}'), ('$e4', 2, 'm.room.message', '@alice:test', 4, 4, 4, 4, 2, '{}'),
                   ('$e5', 4, 'm.room.member', '@alice:test', 5, 5, NULL, 5, NULL, '{}');
            INSERT INTO forward_extremities (room_nid, event_nid) SELECT room_nid, event_nid FROM events;
            INSERT INTO room_current_snapshot (room_nid, snapshot_nid, last_stream_ordering) VALUES (1, 1, 7), (3, 3, 7);
            """);

        await schema.MigrateAsync();

        (await RowsAsync(db, """
            SELECT r.room_id || ' ' || s.snapshot_nid || ' ' || s.last_stream_ordering || ' ' || coalesce(string_agg(e.event_id, ',' ORDER BY e.event_id), '-')
            FROM room_current_snapshot s JOIN rooms r ON r.room_nid = s.room_nid
            LEFT JOIN LATERAL unnest(s.forward_extremities) AS f (event_nid) ON true LEFT JOIN events e ON e.event_nid = f.event_nid
            GROUP BY r.room_id, s.snapshot_nid, s.last_stream_ordering ORDER BY r.room_id
            """)).Should().Equal("!bare:test 2 4 $e3,$e4", "!forked:test 1 7 $e1,$e2", "!quiet:test 3 7 -");
        (await RowsAsync(db, "SELECT count(*)::text FROM pg_tables WHERE tablename = 'forward_extremities'")).Should().Equal("0");
    }

    [Fact]
    public async Task Migration_0018_gives_each_thread_its_latest_reply_in_the_timeline()
    {
        await using var schema = await SchemaBeforeAsync(18);
        var db = schema.Db;

        // Roots $e1 and $e2. $e1's replies: $e3, $e5, and $e6 (soft-failed, so not its latest); $e2's: $e4, and $e7
        // (an outlier). $e8 reacts to $e1: not a thread reply.
        await RoomTestHelpers.ExecuteAsync(db, """
            INSERT INTO rooms (room_id, room_version, created_ts) VALUES ('!room:test', '10', 0);
            INSERT INTO events (event_id, room_nid, event_type, sender, depth, origin_server_ts, stream_ordering, topological_ordering, json, soft_failed, outlier)
            SELECT '$e' || s, r.room_nid, 'm.room.message', '@alice:test', s, s, CASE WHEN s = 7 THEN NULL ELSE s END, s, '{}', s = 6, s = 7
            FROM rooms r, generate_series(1, 8) AS s;
            INSERT INTO event_relations (event_nid, room_nid, relates_to_id, rel_type)
            SELECT e.event_nid, e.room_nid, v.parent, v.rel_type
            FROM (VALUES ('$e3', '$e1', 'm.thread'), ('$e5', '$e1', 'm.thread'), ('$e6', '$e1', 'm.thread'),
                         ('$e4', '$e2', 'm.thread'), ('$e7', '$e2', 'm.thread'), ('$e8', '$e1', 'm.annotation')) AS v (id, parent, rel_type)
            JOIN events e ON e.event_id = v.id;
            """);

        await schema.MigrateAsync();

        (await RowsAsync(db, """
            SELECT t.thread_id || ' ' || e.event_id || ' ' || t.topological_ordering || ' ' || t.stream_ordering
            FROM threads t JOIN events e ON e.event_nid = t.latest_event_nid ORDER BY t.thread_id
            """)).Should().Equal("$e1 $e5 5 5", "$e2 $e4 4 4");
    }

    [Fact]
    public async Task Migration_0020_records_who_took_part_in_each_thread()
    {
        await using var schema = await SchemaBeforeAsync(20);
        var db = schema.Db;

        // $e1 (carol's) has replies from alice ($e2, twice with $e3) and bob ($e4, soft-failed: not in the timeline);
        // bob's $e5 reacts to it (no thread reply). $e6 (dave's) has no reply: no thread.
        await RoomTestHelpers.ExecuteAsync(db, """
            INSERT INTO rooms (room_id, room_version, created_ts) VALUES ('!room:test', '10', 0);
            INSERT INTO events (event_id, room_nid, event_type, sender, depth, origin_server_ts, stream_ordering, topological_ordering, json, soft_failed)
            SELECT '$e' || v.s, r.room_nid, 'm.room.message', v.sender, v.s, v.s, v.s, v.s, '{}', v.s = 4
            FROM rooms r, (VALUES (1, '@carol:test'), (2, '@alice:test'), (3, '@alice:test'), (4, '@bob:test'), (5, '@bob:test'), (6, '@dave:test')) AS v (s, sender);
            INSERT INTO event_relations (event_nid, room_nid, relates_to_id, rel_type)
            SELECT e.event_nid, e.room_nid, '$e1', CASE WHEN e.event_id = '$e5' THEN 'm.annotation' ELSE 'm.thread' END
            FROM events e WHERE e.event_id IN ('$e2', '$e3', '$e4', '$e5');
            INSERT INTO threads (room_nid, thread_id, latest_event_nid, topological_ordering, stream_ordering)
            SELECT room_nid, '$e1', event_nid, 3, 3 FROM events WHERE event_id = '$e3';
            """);

        await schema.MigrateAsync();

        (await RowsAsync(db, "SELECT thread_id || ' ' || user_id FROM thread_participants ORDER BY thread_id, user_id"))
            .Should().Equal("$e1 @alice:test", "$e1 @carol:test");
    }

    [Fact]
    public async Task Migration_0019_switches_the_jit_off_for_the_database_unless_the_operator_set_it()
    {
        await using (var schema = await SchemaBeforeAsync(19))
        {
            await schema.MigrateAsync();
            (await schema.SettingInNewSessionAsync("jit")).Should().Be("off");
        }

        await using (var schema = await SchemaBeforeAsync(19))
        {
            await RoomTestHelpers.ExecuteAsync(schema.Db, $"ALTER DATABASE {schema.DatabaseName} SET jit = on");
            await schema.MigrateAsync();
            (await schema.SettingInNewSessionAsync("jit")).Should().Be("on");
        }
    }

    /// <summary>A database with the schema as the previous release left it: every migration before <paramref name="version"/>, recorded as applied.</summary>
    private static async Task<OldSchema> SchemaBeforeAsync(int version)
    {
        var database = await TestDatabase.CreateAsync();
        var services = new ServiceCollection().AddLogging().AddSingleton(TimeProvider.System).AddStorage(database.ConnectionString).BuildServiceProvider();
        var schema = new OldSchema(database, services);
        await PreviousSchema.ApplyBeforeAsync(schema.Db, version);
        return schema;
    }

    private sealed class OldSchema(TestDatabase database, ServiceProvider services) : IAsyncDisposable
    {
        public NpgsqlDataSource Db { get; } = services.GetRequiredService<NpgsqlDataSource>();

        public string DatabaseName => database.Name;

        /// <summary>A setting as a session opened now gets it (a new connection, outside the pool).</summary>
        public async Task<string> SettingInNewSessionAsync(string name)
        {
            await using var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(database.ConnectionString) { Pooling = false }.ConnectionString);
            await conn.OpenAsync();
            await using var command = new NpgsqlCommand($"SHOW {name}", conn);
            return (string)(await command.ExecuteScalarAsync())!;
        }

        /// <summary>Applies the migrations this build ships after it.</summary>
        public async Task MigrateAsync() =>
            (await services.GetRequiredService<MigrationRunner>().MigrateAsync(CancellationToken.None)).Should().BeGreaterThan(0);

        public async ValueTask DisposeAsync()
        {
            await services.DisposeAsync();
            await database.DisposeAsync();
        }
    }

    private static async Task<List<string>> RowsAsync(NpgsqlDataSource db, string sql)
    {
        await using var conn = await db.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(sql, conn);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }
}
