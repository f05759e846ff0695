using System.Collections.Concurrent;
using Homeserver.Core.Streams;
using Homeserver.Push.Rules;
using Homeserver.Sync;

namespace Homeserver.Push;

/// <summary>
/// Users' push rules: reading, changing (each change also rewrites the <c>m.push_rules</c> account data, which
/// reaches clients through <c>/sync</c>), and the compiled rules the notification evaluator checks, cached per user
/// and dropped whenever the user changes a rule.
/// </summary>
public sealed class PushRuleService(IPushRuleStore store, StreamPositions streams, SyncNotifier notifier)
{
    private const int CacheLimit = 50_000;
    private readonly ConcurrentDictionary<string, CompiledPushRules> _compiled = new(StringComparer.Ordinal);
    private long _generation;

    public async Task<PushRuleSet> GetAsync(string userId, CancellationToken ct) => PushRuleSet.Build(userId, await store.GetAsync(userId, ct));

    /// <summary>Applies a change (a <see cref="PushRuleEdits"/> function) and wakes the user's syncs.</summary>
    public async Task UpdateAsync(string userId, Func<IReadOnlyList<StoredPushRule>, IReadOnlyList<StoredPushRule>> change, CancellationToken ct)
    {
        long position;
        using (var reservation = streams.Reserve())
        {
            position = reservation.First;
            await store.UpdateAsync(userId, change, rows => PushRuleSet.Build(userId, rows).ToJson().ToJsonString(), position, ct);
            Interlocked.Increment(ref _generation);
            _compiled.TryRemove(userId, out _);
        }

        notifier.Notify([userId], position);
        await streams.WaitUntilReadableAsync(position, ct);
    }

    /// <summary>The compiled rules of several users (loaded together for those not cached).</summary>
    public async Task<IReadOnlyDictionary<string, CompiledPushRules>> GetCompiledAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        var result = new Dictionary<string, CompiledPushRules>(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var user in userIds)
        {
            if (_compiled.TryGetValue(user, out var rules))
            {
                result[user] = rules;
            }
            else
            {
                missing.Add(user);
            }
        }

        if (missing.Count == 0)
        {
            return result;
        }

        var generation = Interlocked.Read(ref _generation);
        var loaded = await store.GetManyAsync(missing, ct);
        var cacheable = Interlocked.Read(ref _generation) == generation;
        if (_compiled.Count > CacheLimit)
        {
            _compiled.Clear();
        }

        foreach (var user in missing)
        {
            var compiled = PushRuleSet.Build(user, loaded.GetValueOrDefault(user) ?? []).Compile();
            result[user] = compiled;
            if (cacheable)
            {
                _compiled[user] = compiled;
            }
        }

        // A change that committed after the load and dropped its user's entry before the entries above went in would
        // leave the old rules cached: look again now that they are in (a change dropping after this is not a problem).
        if (cacheable && Interlocked.Read(ref _generation) != generation)
        {
            foreach (var user in missing)
            {
                _compiled.TryRemove(user, out _);
            }
        }

        return result;
    }
}

/// <summary>
/// Puts the <c>m.push_rules</c> account data into initial syncs of users who never changed a rule (and so have no
/// stored account data row): clients expect the server-default rules there ("Push Rules: Events").
/// Wraps the storage's <see cref="ISyncDataStore"/>.
/// </summary>
public sealed class PushRulesAccountData(ISyncDataStore inner) : ISyncDataStore
{
    public const string EventType = "m.push_rules";

    public async Task<IReadOnlyList<AccountDataEntry>> GetAccountDataAsync(string userId, long afterStream, long upToStream, CancellationToken ct)
    {
        var entries = await inner.GetAccountDataAsync(userId, afterStream, upToStream, ct);
        if (afterStream != 0 || entries.Any(e => e.RoomId.Length == 0 && e.Type == EventType))
        {
            return entries;
        }

        // No row: the user's rules are exactly the defaults (any change writes the row).
        var defaults = PushRuleSet.Build(userId, []).ToJson().ToJsonString();
        return [.. entries, new AccountDataEntry(string.Empty, EventType, defaults, 0)];
    }
}
