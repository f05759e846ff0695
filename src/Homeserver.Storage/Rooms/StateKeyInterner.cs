using System.Collections.Concurrent;
using Dapper;
using Homeserver.Rooms;
using Npgsql;

namespace Homeserver.Storage.Rooms;

/// <summary>
/// Interns <c>(event type, state key)</c> pairs as numbers (table <c>state_keys</c>), so that state
/// snapshots are arrays of integers. The mapping never changes once made, so it is cached forever.
/// New pairs are inserted on their own connection, outside any event transaction: a rolled-back event
/// leaves at most an unused row, never a cached number that does not exist.
/// </summary>
internal sealed class StateKeyInterner(NpgsqlDataSource db)
{
    private const string Insert = """
        INSERT INTO state_keys (event_type, state_key) SELECT * FROM unnest(@Types, @Keys)
        ON CONFLICT (event_type, state_key) DO NOTHING
        """;

    // One lookup in the (event_type, state_key) unique index per pair: a join with the unnest could get a generic plan
    // that hashes a scan of the whole table (as the search indexer's insert did, ROOMS.md, thirteenth session).
    private const string SelectByPairs = """
        SELECT s.state_key_nid AS Nid, s.event_type AS Type, s.state_key AS Key
        FROM unnest(@Types, @Keys) AS w(t, k)
        CROSS JOIN LATERAL (
            SELECT state_key_nid, event_type, state_key FROM state_keys WHERE event_type = w.t AND state_key = w.k LIMIT 1) AS s
        """;

    private const string SelectByNids = "SELECT state_key_nid AS Nid, event_type AS Type, state_key AS Key FROM state_keys WHERE state_key_nid = ANY(@Nids)";

    private readonly ConcurrentDictionary<StateKey, long> _toNid = new();
    private readonly ConcurrentDictionary<long, StateKey> _fromNid = new();

    private sealed record Row(long Nid, string Type, string Key);

    public async Task<long> GetOrCreateAsync(StateKey key, CancellationToken ct) => (await GetOrCreateAsync([key], ct))[key];

    public async Task<IReadOnlyDictionary<StateKey, long>> GetOrCreateAsync(IReadOnlyCollection<StateKey> keys, CancellationToken ct)
    {
        var result = new Dictionary<StateKey, long>(keys.Count);
        var missing = new List<StateKey>();
        foreach (var k in keys)
        {
            if (_toNid.TryGetValue(k, out var nid))
            {
                result[k] = nid;
            }
            else
            {
                missing.Add(k);
            }
        }

        if (missing.Count > 0)
        {
            var args = new { Types = missing.Select(k => k.Type).ToArray(), Keys = missing.Select(k => k.Key).ToArray() };
            await using var conn = await db.OpenConnectionAsync(ct);
            await conn.ExecuteAsync(new CommandDefinition(Insert, args, cancellationToken: ct));
            foreach (var row in await conn.QueryAsync<Row>(new CommandDefinition(SelectByPairs, args, cancellationToken: ct)))
            {
                Remember(row);
                result[new StateKey(row.Type, row.Key)] = row.Nid;
            }
        }

        return result;
    }

    /// <summary>Looks up pairs without creating them; absent pairs are not in the result.</summary>
    public async Task<IReadOnlyDictionary<StateKey, long>> FindAsync(IReadOnlyCollection<StateKey> keys, CancellationToken ct)
    {
        var result = new Dictionary<StateKey, long>(keys.Count);
        var missing = new List<StateKey>();
        foreach (var k in keys)
        {
            if (_toNid.TryGetValue(k, out var nid))
            {
                result[k] = nid;
            }
            else
            {
                missing.Add(k);
            }
        }

        if (missing.Count > 0)
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            var args = new { Types = missing.Select(k => k.Type).ToArray(), Keys = missing.Select(k => k.Key).ToArray() };
            foreach (var row in await conn.QueryAsync<Row>(new CommandDefinition(SelectByPairs, args, cancellationToken: ct)))
            {
                Remember(row);
                result[new StateKey(row.Type, row.Key)] = row.Nid;
            }
        }

        return result;
    }

    public async Task<IReadOnlyDictionary<long, StateKey>> ResolveAsync(IEnumerable<long> nids, CancellationToken ct)
    {
        var result = new Dictionary<long, StateKey>();
        var missing = new List<long>();
        foreach (var n in nids)
        {
            if (_fromNid.TryGetValue(n, out var k))
            {
                result[n] = k;
            }
            else
            {
                missing.Add(n);
            }
        }

        if (missing.Count > 0)
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            foreach (var row in await conn.QueryAsync<Row>(new CommandDefinition(SelectByNids, new { Nids = missing.ToArray() }, cancellationToken: ct)))
            {
                Remember(row);
                result[row.Nid] = new StateKey(row.Type, row.Key);
            }
        }

        return result;
    }

    private void Remember(Row row)
    {
        var key = new StateKey(row.Type, row.Key);
        _toNid[key] = row.Nid;
        _fromNid[row.Nid] = key;
    }
}
