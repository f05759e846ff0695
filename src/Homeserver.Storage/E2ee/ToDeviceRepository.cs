using Dapper;
using Homeserver.E2ee;
using Npgsql;

namespace Homeserver.Storage.E2ee;

/// <summary>
/// Tables <c>e2e_to_device_inbox</c>, <c>e2e_to_device_deliveries</c> and <c>e2e_to_device_txns</c>. A /sync answer
/// records exactly which messages it delivered, under its next_batch position; the next /sync that presents that
/// position as <c>since</c> deletes exactly those. So a capped answer never loses the messages it left out, and a
/// retried /sync (same since) gets the same messages again.
/// </summary>
internal sealed class ToDeviceRepository(NpgsqlDataSource db) : IToDeviceStore
{
    /// <summary>How long a transaction ID is remembered (Synapse keeps them for 30 minutes).</summary>
    private static readonly TimeSpan TxnLifetime = TimeSpan.FromDays(1);

    private const string SelectDevices = "SELECT user_id AS UserId, device_id AS DeviceId FROM devices WHERE user_id = ANY(@UserIds)";

    private const string InsertTxn = """
        INSERT INTO e2e_to_device_txns (user_id, device_id, txn_id, created_ts) VALUES (@UserId, @DeviceId, @TxnId, @NowTs)
        ON CONFLICT (user_id, device_id, txn_id) DO NOTHING
        """;

    private const string DeleteOldTxns = "DELETE FROM e2e_to_device_txns WHERE user_id = @UserId AND device_id = @DeviceId AND created_ts < @Cutoff";

    // Only devices that still exist: one deleted since the recipients were resolved is skipped.
    private const string InsertMessages = """
        INSERT INTO e2e_to_device_inbox (user_id, device_id, stream_id, sender, event_type, content)
        SELECT t.u, t.d, @StreamId, @Sender, @Type, t.c
        FROM unnest(@UserIds::text[], @DeviceIds::text[], @Contents::text[]) AS t (u, d, c)
        JOIN devices ON devices.user_id = t.u AND devices.device_id = t.d
        ON CONFLICT (user_id, device_id, stream_id) DO NOTHING
        """;

    // Keeps the newest @Cap messages of each device that just received one.
    private const string TrimInboxes = """
        DELETE FROM e2e_to_device_inbox i
        USING (
            SELECT user_id, device_id, stream_id FROM (
                SELECT user_id, device_id, stream_id,
                       row_number() OVER (PARTITION BY user_id, device_id ORDER BY stream_id DESC) AS rn
                FROM e2e_to_device_inbox
                WHERE (user_id, device_id) IN (SELECT u, d FROM unnest(@UserIds::text[], @DeviceIds::text[]) AS t (u, d))) ranked
            WHERE ranked.rn > @Cap) old
        WHERE i.user_id = old.user_id AND i.device_id = old.device_id AND i.stream_id = old.stream_id
        """;

    private const string AcknowledgeDelivery = """
        DELETE FROM e2e_to_device_inbox
        WHERE user_id = @UserId AND device_id = @DeviceId AND stream_id IN (
            SELECT unnest(stream_ids) FROM e2e_to_device_deliveries
            WHERE user_id = @UserId AND device_id = @DeviceId AND batch_position = @Since)
        """;

    private const string DeleteOldDeliveries =
        "DELETE FROM e2e_to_device_deliveries WHERE user_id = @UserId AND device_id = @DeviceId AND batch_position <= @Since";

    private const string SelectPending = """
        SELECT stream_id AS StreamId, sender AS Sender, event_type AS Type, content AS ContentJson
        FROM e2e_to_device_inbox
        WHERE user_id = @UserId AND device_id = @DeviceId AND stream_id <= @UpTo
        ORDER BY stream_id LIMIT @Limit
        """;

    private const string RecordDelivery = """
        INSERT INTO e2e_to_device_deliveries (user_id, device_id, batch_position, stream_ids)
        VALUES (@UserId, @DeviceId, @Batch, @StreamIds)
        ON CONFLICT (user_id, device_id, batch_position) DO UPDATE SET stream_ids =
            ARRAY(SELECT DISTINCT s FROM unnest(e2e_to_device_deliveries.stream_ids || EXCLUDED.stream_ids) AS t (s) ORDER BY s)
        """;

    private const string SelectAfter = """
        SELECT stream_id AS StreamId, sender AS Sender, event_type AS Type, content AS ContentJson
        FROM e2e_to_device_inbox
        WHERE user_id = @UserId AND device_id = @DeviceId AND stream_id > @After AND stream_id <= @UpTo
        ORDER BY stream_id LIMIT @Limit
        """;

    private const string DeleteUpTo = "DELETE FROM e2e_to_device_inbox WHERE user_id = @UserId AND device_id = @DeviceId AND stream_id <= @UpTo";

    private sealed record DeviceRow(string UserId, string DeviceId);

    public async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> GetDeviceIdsAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<DeviceRow>(new CommandDefinition(SelectDevices, new { UserIds = userIds.ToArray() }, cancellationToken: ct));
        return rows.GroupBy(r => r.UserId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.Select(r => r.DeviceId).ToList(), StringComparer.Ordinal);
    }

    public async Task<ToDeviceAddResult> AddAsync(
        string senderUserId, string senderDeviceId, string txnId, long streamId, IReadOnlyList<ToDeviceMessage> messages, int maxPendingPerDevice, long nowTs, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await TryAddAsync(senderUserId, senderDeviceId, txnId, streamId, messages, maxPendingPerDevice, nowTs, ct);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ForeignKeyViolation && attempt < 3)
            {
                // A recipient device was deleted while we inserted: the join leaves it out on the next attempt.
            }
        }
    }

    private async Task<ToDeviceAddResult> TryAddAsync(
        string senderUserId, string senderDeviceId, string txnId, long streamId, IReadOnlyList<ToDeviceMessage> messages, int maxPendingPerDevice, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var sender = new { UserId = senderUserId, DeviceId = senderDeviceId, TxnId = txnId, NowTs = nowTs, Cutoff = nowTs - (long)TxnLifetime.TotalMilliseconds };
        await conn.ExecuteAsync(new CommandDefinition(DeleteOldTxns, sender, tx, cancellationToken: ct));
        if (await conn.ExecuteAsync(new CommandDefinition(InsertTxn, sender, tx, cancellationToken: ct)) == 0)
        {
            return new ToDeviceAddResult(Duplicate: true, Dropped: 0);
        }

        var dropped = 0;
        if (messages.Count > 0)
        {
            // One request carries one event type from one sender.
            var args = new
            {
                StreamId = streamId,
                Sender = messages[0].Sender,
                Type = messages[0].Type,
                UserIds = messages.Select(m => m.UserId).ToArray(),
                DeviceIds = messages.Select(m => m.DeviceId).ToArray(),
                Contents = messages.Select(m => m.ContentJson).ToArray(),
                Cap = maxPendingPerDevice,
            };
            await conn.ExecuteAsync(new CommandDefinition(InsertMessages, args, tx, cancellationToken: ct));
            await tx.CommitAsync(ct);

            // Trimmed after commit: each trim then sees every send committed before it, so once concurrent sends
            // are done the last trim has left exactly the newest @Cap (inside one transaction it could not see them).
            dropped = await conn.ExecuteAsync(new CommandDefinition(TrimInboxes, args, cancellationToken: ct));
        }
        else
        {
            await tx.CommitAsync(ct);
        }

        return new ToDeviceAddResult(Duplicate: false, Dropped: dropped);
    }

    public async Task<IReadOnlyList<PendingToDevice>> TakeForSyncAsync(string userId, string deviceId, long? acknowledgedBatch, long batchPosition, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        try
        {
            if (acknowledgedBatch is { } since)
            {
                var ack = new { UserId = userId, DeviceId = deviceId, Since = since };
                await conn.ExecuteAsync(new CommandDefinition(AcknowledgeDelivery, ack, tx, cancellationToken: ct));
                await conn.ExecuteAsync(new CommandDefinition(DeleteOldDeliveries, ack, tx, cancellationToken: ct));
            }

            var pending = (await conn.QueryAsync<PendingToDevice>(new CommandDefinition(
                SelectPending, new { UserId = userId, DeviceId = deviceId, UpTo = batchPosition, Limit = limit }, tx, cancellationToken: ct))).ToList();
            if (pending.Count > 0)
            {
                await conn.ExecuteAsync(new CommandDefinition(RecordDelivery, new
                {
                    UserId = userId,
                    DeviceId = deviceId,
                    Batch = batchPosition,
                    StreamIds = pending.Select(p => p.StreamId).ToArray(),
                }, tx, cancellationToken: ct));
            }

            await tx.CommitAsync(ct);
            return pending;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ForeignKeyViolation)
        {
            return []; // the device was deleted meanwhile
        }
    }

    public async Task<IReadOnlyList<PendingToDevice>> GetAfterAsync(string userId, string deviceId, long after, long upTo, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<PendingToDevice>(new CommandDefinition(
            SelectAfter, new { UserId = userId, DeviceId = deviceId, After = after, UpTo = upTo, Limit = limit }, cancellationToken: ct))).ToList();
    }

    public async Task DeleteUpToAsync(string userId, string deviceId, long upTo, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(DeleteUpTo, new { UserId = userId, DeviceId = deviceId, UpTo = upTo }, cancellationToken: ct));
    }
}
