using Dapper;
using Homeserver.Core.Streams;
using Npgsql;

namespace Homeserver.Storage;

/// <summary>
/// Seeds <see cref="StreamPositions"/> at start-up with the highest stream position in the database, so that new
/// writes continue after it. Every table that stores global stream positions belongs in <see cref="MaxPosition"/>.
/// </summary>
public sealed class StreamPositionsSeeder(NpgsqlDataSource db, Rooms.RoomNewsTracker newsTracker)
{
    private const string MaxPosition = """
        SELECT GREATEST(
            COALESCE((SELECT max(stream_id) FROM account_data), 0),
            COALESCE((SELECT max(stream_ordering) FROM events), 0),
            COALESCE((SELECT max(stream_id) FROM e2e_device_list_changes), 0),
            COALESCE((SELECT max(stream_id) FROM e2e_to_device_inbox), 0),
            COALESCE((SELECT max(batch_position) FROM e2e_to_device_deliveries), 0),
            COALESCE((SELECT max(stream_id) FROM e2e_cross_signing_keys), 0),
            COALESCE((SELECT max(stream_id) FROM receipts), 0),
            COALESCE((SELECT max(stream_id) FROM presence), 0))
        """;

    public async Task<long> SeedAsync(StreamPositions positions, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var max = await conn.ExecuteScalarAsync<long>(new CommandDefinition(MaxPosition, cancellationToken: ct));
        positions.Seed(max);
        newsTracker.StartTracking(max);
        return max;
    }
}
