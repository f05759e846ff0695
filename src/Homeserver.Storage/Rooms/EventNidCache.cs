using System.Collections.Concurrent;
using Dapper;
using Npgsql;

namespace Homeserver.Storage.Rooms;

/// <summary>Event number ↔ event ID, cached (both never change once assigned).</summary>
internal sealed class EventNidCache(NpgsqlDataSource db)
{
    private const int Capacity = 500_000;
    private const string SelectByNids = "SELECT event_nid AS Nid, event_id AS Id FROM events WHERE event_nid = ANY(@Nids)";
    private const string SelectByIds = "SELECT event_nid AS Nid, event_id AS Id FROM events WHERE event_id = ANY(@Ids)";

    private readonly ConcurrentDictionary<long, string> _ids = new();
    private readonly ConcurrentDictionary<string, long> _nids = new(StringComparer.Ordinal);

    // Entries added since the last clear. ConcurrentDictionary.Count takes every one of the dictionary's locks (up to
    // 1,024 once it has grown), and the room writer remembers every event it persists: counting here instead took
    // that out of the writer's path (it showed in a profile of eight senders into one room).
    private int _added;

    private sealed record Row(long Nid, string Id);

    public void Remember(long nid, string id)
    {
        if (Volatile.Read(ref _added) >= Capacity)
        {
            _ids.Clear();
            _nids.Clear();
            Volatile.Write(ref _added, 0);
        }

        if (_ids.TryAdd(nid, id))
        {
            Interlocked.Increment(ref _added);
        }

        _nids[id] = nid;
    }

    public async Task<IReadOnlyDictionary<long, string>> GetIdsAsync(IEnumerable<long> nids, CancellationToken ct, NpgsqlConnection? conn = null, NpgsqlTransaction? tx = null)
    {
        var result = new Dictionary<long, string>();
        var missing = new List<long>();
        foreach (var n in nids)
        {
            if (_ids.TryGetValue(n, out var id))
            {
                result[n] = id;
            }
            else
            {
                missing.Add(n);
            }
        }

        if (missing.Count > 0)
        {
            foreach (var row in await QueryAsync(SelectByNids, new { Nids = missing.ToArray() }, ct, conn, tx))
            {
                result[row.Nid] = row.Id;
            }
        }

        return result;
    }

    public async Task<IReadOnlyDictionary<string, long>> GetNidsAsync(IEnumerable<string> ids, CancellationToken ct, NpgsqlConnection? conn = null, NpgsqlTransaction? tx = null)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var id in ids)
        {
            if (_nids.TryGetValue(id, out var nid))
            {
                result[id] = nid;
            }
            else
            {
                missing.Add(id);
            }
        }

        if (missing.Count > 0)
        {
            foreach (var row in await QueryAsync(SelectByIds, new { Ids = missing.ToArray() }, ct, conn, tx))
            {
                result[row.Id] = row.Nid;
            }
        }

        return result;
    }

    private async Task<IEnumerable<Row>> QueryAsync(string sql, object args, CancellationToken ct, NpgsqlConnection? conn, NpgsqlTransaction? tx)
    {
        IEnumerable<Row> rows;
        if (conn is null)
        {
            await using var own = await db.OpenConnectionAsync(ct);
            rows = (await own.QueryAsync<Row>(new CommandDefinition(sql, args, cancellationToken: ct))).ToList();
        }
        else
        {
            // Inside a transaction the rows may not be committed yet: do not cache them.
            return (await conn.QueryAsync<Row>(new CommandDefinition(sql, args, tx, cancellationToken: ct))).ToList();
        }

        foreach (var row in rows)
        {
            Remember(row.Nid, row.Id);
        }

        return rows;
    }
}
