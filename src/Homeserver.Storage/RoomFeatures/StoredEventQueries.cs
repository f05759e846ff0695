using System.Text.Json;
using Dapper;
using Homeserver.Core;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Npgsql;

namespace Homeserver.Storage.RoomFeatures;

/// <summary>The column list and row mapping of <see cref="StoredEvent"/> queries over <c>events</c> (alias <c>e</c>).</summary>
internal static class StoredEventQueries
{
    public const string Columns = $"""
        e.event_id AS EventId, e.json AS Json, r.room_version AS Version, e.stream_ordering AS StreamOrdering,
        e.topological_ordering AS TopologicalOrdering, e.redacted_by AS RedactedBy, e.state_before AS StateBefore, e.state_after AS StateAfter,
        {TransactionColumns}
        """;

    /// <summary>
    /// A local send's client transaction, kept on its event row (0013_lighter_event_rows.sql): the sender is its user,
    /// and the transaction ID is null for every other event.
    /// </summary>
    public const string TransactionColumns = "e.sender AS TxnUser, e.txn_device_id AS TxnDevice, e.txn_id AS TxnId";

    /// <summary>The join for <see cref="Columns"/>: the room's version.</summary>
    public const string Joins = "JOIN rooms r ON r.room_nid = e.room_nid";

    /// <summary>In the timeline: not an outlier, not rejected, not soft-failed.</summary>
    public const string Visible = "e.stream_ordering IS NOT NULL AND NOT e.outlier AND e.rejection_reason IS NULL AND NOT e.soft_failed";

    public sealed record Row(
        string EventId, string Json, string Version, long? StreamOrdering, long TopologicalOrdering, string? RedactedBy,
        long? StateBefore, long? StateAfter, string? TxnUser, string? TxnDevice, string? TxnId);

    // A query that reads the next rows of an index in its order (a page of a room's timeline by (room, depth, stream),
    // the room's last event at a stream position by (room, stream), the event nearest a time by (room, ts)) until it has
    // enough. With statistics that have not caught up with a room (a new room that grew fast in a large table, or any
    // room before autovacuum's next analyze) the planner expects a handful of the room's rows, and instead fetches every
    // row of the room on one side of the position through a bitmap and sorts them: 130-180 ms for a page from the
    // middle of a 100k-event room instead of 3-4 ms (seventeenth session, ROOMS.md), and as long for the room's last
    // event before a sync token. Sorting is switched off for such queries, which leaves the walk along the index as the
    // only plan whatever the statistics say. Only for queries whose plan then has no sort at all: a sort that cannot be
    // avoided would cost the planner's penalty, which is large enough to have the query compiled by PostgreSQL's JIT
    // (300 ms). TimelinePlanTests guards the plans.
    internal const string NoSort = "SELECT set_config('enable_sort', 'off', true)";

    /// <param name="inIndexOrder">Run with sorting switched off (<see cref="NoSort"/>).</param>
    public static async Task<IReadOnlyList<StoredEvent>> QueryAsync(NpgsqlDataSource db, string sql, object args, CancellationToken ct, bool inIndexOrder = false)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = inIndexOrder
            ? await QueryInIndexOrderAsync<Row>(conn, sql, args, ct)
            : await conn.QueryAsync<Row>(new CommandDefinition(sql, args, cancellationToken: ct));
        return Map(rows);
    }

    /// <summary><paramref name="sql"/> with sorting switched off (<see cref="NoSort"/>).</summary>
    public static async Task<IEnumerable<T>> QueryInIndexOrderAsync<T>(NpgsqlConnection conn, string sql, object args, CancellationToken ct)
    {
        // One round trip, one implicit transaction: the setting holds for the query after it and ends with it.
        await using var grids = await conn.QueryMultipleAsync(new CommandDefinition($"{NoSort};\n{sql}", args, cancellationToken: ct));
        await grids.ReadAsync<string>();
        return await grids.ReadAsync<T>();
    }

    public static IReadOnlyList<StoredEvent> Map(IEnumerable<Row> rows)
    {
        var result = new List<StoredEvent>();
        foreach (var row in rows)
        {
            using var doc = JsonDocument.Parse(row.Json);
            var pdu = Pdu.Parse(doc.RootElement.Clone(), RoomVersion.Find(row.Version)!, row.EventId);
            var txn = row.TxnId is null ? null : new TransactionRef(row.TxnUser!, row.TxnDevice!, row.TxnId);
            result.Add(new StoredEvent(pdu, row.StreamOrdering, row.TopologicalOrdering, row.RedactedBy, txn, row.StateBefore, row.StateAfter));
        }

        return result;
    }
}
