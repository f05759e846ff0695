using Homeserver.Storage;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary>
/// Migration 0013 against a database the previous release left: the client transactions of stored events move onto
/// their rows (where readers now find unsigned.transaction_id), and the auth edges, which every event's JSON holds,
/// are no longer a table.
/// </summary>
public sealed class EventRowMigrationTests
{
    [Fact]
    public async Task Migration_0013_moves_each_events_transaction_onto_its_row()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var services = StorageOf(database);
        var db = services.GetRequiredService<NpgsqlDataSource>();

        // The schema as the previous release left it: every migration before 0013, recorded as applied.
        await PreviousSchema.ApplyBeforeAsync(db, 13);

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

        (await services.GetRequiredService<MigrationRunner>().MigrateAsync(CancellationToken.None)).Should().BeGreaterThan(0);

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
        await using var database = await TestDatabase.CreateAsync();
        await using var services = StorageOf(database);
        var db = services.GetRequiredService<NpgsqlDataSource>();
        await PreviousSchema.ApplyBeforeAsync(db, 14);
        await RoomTestHelpers.ExecuteAsync(db, """
            INSERT INTO rooms (room_id, room_version, created_ts) VALUES ('!room:test', '10', 0);
            INSERT INTO events (event_id, room_nid, event_type, sender, depth, origin_server_ts, stream_ordering, topological_ordering, json, txn_device_id, txn_id)
            SELECT '$e' || s, r.room_nid, 'm.room.message', '@alice:test', s, s, s, s, '{}', 'DEV1', 'txn-' || s
            FROM rooms r, generate_series(1, 3) AS s;
            INSERT INTO event_txn_ids (user_id, device_id, txn_id, event_id, created_ts) SELECT sender, txn_device_id, txn_id, event_id, 0 FROM events;
            """);

        (await services.GetRequiredService<MigrationRunner>().MigrateAsync(CancellationToken.None)).Should().BeGreaterThan(0);

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

    private static ServiceProvider StorageOf(TestDatabase database) => new ServiceCollection()
        .AddLogging()
        .AddSingleton(TimeProvider.System)
        .AddStorage(database.ConnectionString)
        .BuildServiceProvider();

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
