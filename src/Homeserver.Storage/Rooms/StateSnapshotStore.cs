using System.Collections.Concurrent;
using Dapper;
using Npgsql;

namespace Homeserver.Storage.Rooms;

/// <summary>
/// State snapshots as deltas against a parent snapshot (see README.md, "State storage").
///
/// A snapshot maps interned state keys to event numbers. Each row stores only its delta from its parent;
/// a row without parent holds its full state. When a new delta is at least as large as its parent's
/// delta, the two are merged and the new row points at the grandparent instead (repeatedly), so delta
/// sizes grow geometrically towards the root: chains stay about log2(state size) rows long, and each
/// state change costs O(log n) stored entries instead of a copy of the whole state. A snapshot equal to
/// an existing one in the same room is found by an order-independent content hash and reused.
/// Snapshot 0 is the empty state and has no row.
/// </summary>
internal sealed class StateSnapshotStore(NpgsqlDataSource db)
{
    public const long Empty = 0;

    /// <summary>A hard bound on chain length, in case deltas stay small for very long (rebased to a full snapshot then).</summary>
    private const int MaxChainLength = 48;

    /// <summary>Materialized snapshots kept in memory, counted in entries.</summary>
    private const long MaxCachedEntries = 3_000_000;

    private const string InsertRow = """
        INSERT INTO state_snapshots (room_nid, parent_nid, chain_length, entry_count, content_hash, delta_keys, delta_events)
        VALUES (@RoomNid, @ParentNid, @ChainLength, @EntryCount, @ContentHash, @DeltaKeys, @DeltaEvents)
        RETURNING snapshot_nid
        """;

    private const string SelectByHash = "SELECT snapshot_nid FROM state_snapshots WHERE room_nid = @RoomNid AND content_hash = @ContentHash";

    private const string SelectChain = """
        WITH RECURSIVE chain AS (
            SELECT snapshot_nid, parent_nid, chain_length, entry_count, content_hash, delta_keys, delta_events
            FROM state_snapshots WHERE snapshot_nid = @Id
            UNION ALL
            SELECT s.snapshot_nid, s.parent_nid, s.chain_length, s.entry_count, s.content_hash, s.delta_keys, s.delta_events
            FROM state_snapshots s JOIN chain c ON s.snapshot_nid = c.parent_nid
        )
        SELECT snapshot_nid AS Id, parent_nid AS ParentId, chain_length AS ChainLength, entry_count AS EntryCount,
               content_hash AS ContentHash, delta_keys AS DeltaKeys, delta_events AS DeltaEvents
        FROM chain
        """;

    private readonly ConcurrentDictionary<long, SnapshotRow> _rows = new();
    private readonly ConcurrentDictionary<long, CachedState> _states = new();
    private long _cachedEntries;
    private long _clock;

    internal sealed record SnapshotRow(long Id, long? ParentId, int ChainLength, int EntryCount, byte[] ContentHash, long[] DeltaKeys, long[] DeltaEvents);

    /// <summary>
    /// A row as Dapper reads it: by properties, since Npgsql reports array columns as <see cref="Array"/>, which no
    /// constructor taking <c>long[]</c> matches (snapshots not cached in memory, e.g. after a restart, failed to load).
    /// </summary>
    private sealed class ChainRow
    {
        public long Id { get; init; }

        public long? ParentId { get; init; }

        public int ChainLength { get; init; }

        public int EntryCount { get; init; }

        public byte[] ContentHash { get; init; } = [];

        public long[] DeltaKeys { get; init; } = [];

        public long[] DeltaEvents { get; init; } = [];
    }

    private sealed class CachedState(IReadOnlyDictionary<long, long> state, long used)
    {
        public IReadOnlyDictionary<long, long> State { get; } = state;

        public long Used { get; set; } = used;
    }

    /// <summary>Changes to apply to the caches once the transaction that made them has committed.</summary>
    public sealed class PendingWrites
    {
        internal List<SnapshotRow> Rows { get; } = [];

        internal List<(long Id, IReadOnlyDictionary<long, long> State)> States { get; } = [];
    }

    /// <summary>The full state of a snapshot (key number → event number).</summary>
    public async Task<IReadOnlyDictionary<long, long>> GetAsync(long snapshotId, CancellationToken ct, PendingWrites? pending = null)
    {
        if (snapshotId == Empty)
        {
            return EmptyState;
        }

        if (pending is not null)
        {
            foreach (var (id, s) in pending.States)
            {
                if (id == snapshotId)
                {
                    return s;
                }
            }
        }

        if (_states.TryGetValue(snapshotId, out var cached))
        {
            cached.Used = Interlocked.Increment(ref _clock);
            return cached.State;
        }

        var chain = await LoadChainAsync(snapshotId, ct, pending);
        var state = new Dictionary<long, long>(chain[^1].EntryCount);
        for (var i = chain.Count - 1; i >= 0; i--)
        {
            var row = chain[i];
            for (var j = 0; j < row.DeltaKeys.Length; j++)
            {
                if (row.DeltaEvents[j] == 0)
                {
                    state.Remove(row.DeltaKeys[j]);
                }
                else
                {
                    state[row.DeltaKeys[j]] = row.DeltaEvents[j];
                }
            }
        }

        Remember(snapshotId, state);
        return state;
    }

    /// <summary>
    /// Creates (or finds) the snapshot <paramref name="parentId"/> + <paramref name="delta"/> inside the caller's
    /// transaction. A delta value of 0 removes the key. Returns the parent itself when the delta changes nothing.
    /// </summary>
    public async Task<long> CreateAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, long roomNid, long parentId, IReadOnlyDictionary<long, long> delta, PendingWrites pending, CancellationToken ct)
    {
        var parentState = await GetAsync(parentId, ct, pending);
        var effective = new Dictionary<long, long>();
        foreach (var (key, ev) in delta)
        {
            var had = parentState.TryGetValue(key, out var old);
            if (ev == 0 ? had : !had || old != ev)
            {
                effective[key] = ev;
            }
        }

        if (effective.Count == 0)
        {
            return parentId;
        }

        // The hash and size of the new state follow from the parent's by the changed entries alone.
        var parentRow = parentId == Empty ? null : await GetRowAsync(parentId, ct, pending);
        var (h1, h2) = parentRow is null ? (0UL, 0UL) : ReadHash(parentRow.ContentHash);
        var count = parentRow?.EntryCount ?? 0;
        foreach (var (key, ev) in effective)
        {
            if (parentState.TryGetValue(key, out var old))
            {
                Subtract(ref h1, ref h2, key, old);
                count--;
            }

            if (ev != 0)
            {
                Add(ref h1, ref h2, key, ev);
                count++;
            }
        }

        var hash = WriteHash(h1, h2);
        var newState = Apply(parentState, effective);
        foreach (var candidate in await conn.QueryAsync<long>(new CommandDefinition(SelectByHash, new { RoomNid = roomNid, ContentHash = hash }, tx, cancellationToken: ct)))
        {
            var existing = await GetAsync(candidate, ct, pending);
            if (existing.Count == newState.Count && existing.All(kv => newState.TryGetValue(kv.Key, out var v) && v == kv.Value))
            {
                return candidate;
            }
        }

        // Merge with ancestors while their deltas are no bigger than ours: a binary counter, so each entry is rewritten O(log n) times (see the class comment).
        var rowDelta = effective;
        var anchor = parentRow;
        while (anchor is not null && (anchor.DeltaKeys.Length <= rowDelta.Count || anchor.ChainLength >= MaxChainLength))
        {
            var merged = new Dictionary<long, long>(anchor.DeltaKeys.Length + rowDelta.Count);
            for (var i = 0; i < anchor.DeltaKeys.Length; i++)
            {
                merged[anchor.DeltaKeys[i]] = anchor.DeltaEvents[i];
            }

            foreach (var (k, v) in rowDelta)
            {
                merged[k] = v;
            }

            rowDelta = merged;
            anchor = anchor.ParentId is { } pid ? await GetRowAsync(pid, ct, pending) : null;
        }

        if (anchor is null)
        {
            // A full snapshot: removal markers mean nothing without a parent.
            rowDelta = rowDelta.Where(kv => kv.Value != 0).ToDictionary(kv => kv.Key, kv => kv.Value);
        }

        var keys = rowDelta.Keys.ToArray();
        var events = keys.Select(k => rowDelta[k]).ToArray();
        var chainLength = anchor is null ? 0 : anchor.ChainLength + 1;
        var id = await conn.ExecuteScalarAsync<long>(new CommandDefinition(InsertRow, new
        {
            RoomNid = roomNid,
            ParentNid = anchor?.Id,
            ChainLength = chainLength,
            EntryCount = count,
            ContentHash = hash,
            DeltaKeys = keys,
            DeltaEvents = events,
        }, tx, cancellationToken: ct));
        pending.Rows.Add(new SnapshotRow(id, anchor?.Id, chainLength, count, hash, keys, events));
        pending.States.Add((id, newState));
        return id;
    }

    /// <summary>Makes the snapshots of a committed transaction visible in the caches.</summary>
    public void Commit(PendingWrites pending)
    {
        foreach (var row in pending.Rows)
        {
            _rows[row.Id] = row;
        }

        foreach (var (id, state) in pending.States)
        {
            Remember(id, state);
        }
    }

    internal static readonly IReadOnlyDictionary<long, long> EmptyState = new Dictionary<long, long>();

    private static Dictionary<long, long> Apply(IReadOnlyDictionary<long, long> parent, Dictionary<long, long> delta)
    {
        var state = new Dictionary<long, long>(parent.Count + delta.Count);
        foreach (var (k, v) in parent)
        {
            state[k] = v;
        }

        foreach (var (k, v) in delta)
        {
            if (v == 0)
            {
                state.Remove(k);
            }
            else
            {
                state[k] = v;
            }
        }

        return state;
    }

    private async Task<SnapshotRow> GetRowAsync(long id, CancellationToken ct, PendingWrites? pending)
    {
        if (pending is not null)
        {
            foreach (var r in pending.Rows)
            {
                if (r.Id == id)
                {
                    return r;
                }
            }
        }

        if (_rows.TryGetValue(id, out var row))
        {
            return row;
        }

        await LoadChainAsync(id, ct, pending);
        return _rows[id];
    }

    /// <summary>The rows from <paramref name="id"/> up to its root, nearest first.</summary>
    private async Task<List<SnapshotRow>> LoadChainAsync(long id, CancellationToken ct, PendingWrites? pending)
    {
        var chain = new List<SnapshotRow>();
        long? next = id;
        while (next is { } current)
        {
            SnapshotRow? row = pending?.Rows.FirstOrDefault(r => r.Id == current);
            if (row is null && !_rows.TryGetValue(current, out row))
            {
                await using var conn = await db.OpenConnectionAsync(ct);
                var rows = (await conn.QueryAsync<ChainRow>(new CommandDefinition(SelectChain, new { Id = current }, cancellationToken: ct)))
                    .Select(r => new SnapshotRow(r.Id, r.ParentId, r.ChainLength, r.EntryCount, r.ContentHash, r.DeltaKeys, r.DeltaEvents))
                    .ToList();
                if (rows.Count == 0)
                {
                    throw new InvalidOperationException($"state snapshot {current} does not exist");
                }

                foreach (var r in rows)
                {
                    _rows[r.Id] = r;
                }

                row = rows.First(r => r.Id == current);
            }

            chain.Add(row);
            next = row.ParentId;
        }

        return chain;
    }

    private void Remember(long id, IReadOnlyDictionary<long, long> state)
    {
        if (Interlocked.Add(ref _cachedEntries, state.Count) > MaxCachedEntries)
        {
            var cutoff = Interlocked.Read(ref _clock) - (_states.Count / 2);
            foreach (var (key, entry) in _states)
            {
                if (entry.Used < cutoff && _states.TryRemove(key, out var removed))
                {
                    Interlocked.Add(ref _cachedEntries, -removed.State.Count);
                }
            }
        }

        if (!_states.TryAdd(id, new CachedState(state, Interlocked.Increment(ref _clock))))
        {
            Interlocked.Add(ref _cachedEntries, -state.Count);
        }
    }

    // An order-independent (additive) 128-bit hash of the (key, event) pairs: equal states have equal
    // hashes, and a matching hash is confirmed by comparing contents, so collisions cost only a comparison.
    private static (ulong, ulong) EntryHash(long key, long ev) =>
        (Mix(((ulong)key * 0x9E3779B97F4A7C15UL) ^ (ulong)ev), Mix(((ulong)ev * 0xC2B2AE3D27D4EB4FUL) + (ulong)key + 0x165667B19E3779F9UL));

    private static void Add(ref ulong h1, ref ulong h2, long key, long ev)
    {
        var (a, b) = EntryHash(key, ev);
        h1 += a;
        h2 += b;
    }

    private static void Subtract(ref ulong h1, ref ulong h2, long key, long ev)
    {
        var (a, b) = EntryHash(key, ev);
        h1 -= a;
        h2 -= b;
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static byte[] WriteHash(ulong h1, ulong h2)
    {
        var bytes = new byte[16];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), h1);
        BitConverter.TryWriteBytes(bytes.AsSpan(8, 8), h2);
        return bytes;
    }

    private static (ulong, ulong) ReadHash(byte[] bytes) => (BitConverter.ToUInt64(bytes, 0), BitConverter.ToUInt64(bytes, 8));
}
