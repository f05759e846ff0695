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

    public static async Task<IReadOnlyList<StoredEvent>> QueryAsync(NpgsqlDataSource db, string sql, object args, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<Row>(new CommandDefinition(sql, args, cancellationToken: ct));
        return Map(rows);
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
