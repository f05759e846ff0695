using System.Text.Json;
using FluentAssertions;
using Homeserver.Storage.Rooms;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary>
/// A page of a room's timeline walks an index in its order whatever PostgreSQL's statistics say: here the events table
/// of 20,000 events was never analyzed (autovacuum is off for it), so the planner expects a few dozen rows of the room
/// and, left to itself, fetches every event before the token through a bitmap and sorts them
/// (RoomReadRepository.NoSort). If a change made a page query need a sort, these fail.
/// </summary>
public sealed class TimelinePlanTests : IAsyncLifetime
{
    private MigratedDatabase _database = null!;

    private NpgsqlDataSource Db => _database.Db;

    public async Task InitializeAsync() => _database = await MigratedDatabase.CreateAsync("""
        ALTER TABLE events SET (autovacuum_enabled = false);
        INSERT INTO rooms (room_nid, room_id, room_version, created_ts) VALUES (1, '!busy:test', '12', 0);
        INSERT INTO events (event_id, room_nid, event_type, sender, depth, origin_server_ts, stream_ordering, topological_ordering, json)
        SELECT '$e' || s, 1, 'm.room.message', '@alice:test', s, s, s, s, '{}' FROM generate_series(1, 20000) AS s;
        """);

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task A_page_back_from_the_middle_of_the_room_walks_the_depth_index_without_a_sort()
    {
        var plan = await PlanAsync(RoomReadRepository.SelectBackwardsTopological, new()
        {
            ["RoomNid"] = 1L, ["Topo"] = 10_000L, ["Stream"] = 10_000L, ["ToTopo"] = null, ["ToStream"] = 0L, ["ToStreamOnly"] = null, ["Limit"] = 50,
        });

        plan.Should().Contain("events_room_topological").And.NotContain("\"Sort\"").And.NotContain("Bitmap");
    }

    [Fact]
    public async Task The_latest_events_of_a_sync_walk_the_stream_index_without_a_sort()
    {
        var plan = await PlanAsync(RoomReadRepository.SelectLatest, new() { ["RoomNid"] = 1L, ["After"] = 0L, ["UpTo"] = 10_000L, ["Limit"] = 50 });

        plan.Should().NotContain("\"Sort\"").And.NotContain("Bitmap");
    }

    /// <summary>The JSON plan PostgreSQL makes for <paramref name="sql"/> after the repository's setting, in one transaction.</summary>
    private async Task<string> PlanAsync(string sql, Dictionary<string, object?> parameters)
    {
        await using var conn = await Db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var setting = new NpgsqlCommand(RoomReadRepository.NoSort, conn, tx))
        {
            await setting.ExecuteScalarAsync();
        }

        await using var explain = new NpgsqlCommand("EXPLAIN (FORMAT JSON) " + sql, conn, tx);
        foreach (var (name, value) in parameters)
        {
            explain.Parameters.Add(value is null
                ? new NpgsqlParameter(name, NpgsqlTypes.NpgsqlDbType.Bigint) { Value = DBNull.Value }
                : new NpgsqlParameter(name, value));
        }

        var plan = (string)(await explain.ExecuteScalarAsync())!;
        await tx.RollbackAsync();
        return JsonDocument.Parse(plan).RootElement.ToString();
    }
}
