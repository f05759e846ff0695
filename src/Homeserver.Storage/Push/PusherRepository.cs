using Dapper;
using Homeserver.Push;
using Npgsql;

namespace Homeserver.Storage.Push;

/// <summary>The <c>pushers</c> table.</summary>
internal sealed class PusherRepository(NpgsqlDataSource db) : IPusherStore
{
    private readonly object _usersLock = new();
    private HashSet<string>? _usersWithPushers;
    private long _changes;

    private const string Columns = """
        pusher_id AS Id, user_id AS UserId, device_id AS DeviceId, kind AS Kind, app_id AS AppId, pushkey AS Pushkey,
        app_display_name AS AppDisplayName, device_display_name AS DeviceDisplayName, profile_tag AS ProfileTag, lang AS Lang,
        data AS DataJson, pushkey_ts AS PushkeyTs, last_stream_ordering AS LastStreamOrdering, failing_since AS FailingSince
        """;

    private const string SelectForUser = $"SELECT {Columns} FROM pushers WHERE user_id = @UserId ORDER BY pusher_id";

    private const string SelectForUsers = $"SELECT {Columns} FROM pushers WHERE user_id = ANY(@UserIds) ORDER BY pusher_id";

    private const string SelectAll = $"SELECT {Columns} FROM pushers ORDER BY pusher_id";

    private const string SelectUsers = "SELECT DISTINCT user_id FROM pushers";

    private const string DeleteOthers = "DELETE FROM pushers WHERE app_id = @AppId AND pushkey = @Pushkey AND user_id <> @UserId";

    // An update keeps the pusher's progress; a new pusher starts at the current stream position.
    private const string Upsert = """
        INSERT INTO pushers (user_id, device_id, kind, app_id, pushkey, app_display_name, device_display_name, profile_tag, lang, data,
                             pushkey_ts, last_stream_ordering)
        VALUES (@UserId, @DeviceId, @Kind, @AppId, @Pushkey, @AppDisplayName, @DeviceDisplayName, @ProfileTag, @Lang, @DataJson,
                @PushkeyTs, @Start)
        ON CONFLICT (app_id, pushkey, user_id) DO UPDATE SET
            device_id = EXCLUDED.device_id, kind = EXCLUDED.kind, app_display_name = EXCLUDED.app_display_name,
            device_display_name = EXCLUDED.device_display_name, profile_tag = EXCLUDED.profile_tag, lang = EXCLUDED.lang,
            data = EXCLUDED.data, pushkey_ts = EXCLUDED.pushkey_ts
        """;

    private const string Delete = "DELETE FROM pushers WHERE user_id = @UserId AND app_id = @AppId AND pushkey = @Pushkey";

    private const string DeleteForDevice = "DELETE FROM pushers WHERE user_id = @UserId AND device_id = @DeviceId";

    private const string UpdateProgress = """
        UPDATE pushers SET last_stream_ordering = @Last, last_success_ts = COALESCE(@SuccessTs, last_success_ts), failing_since = @FailingSince
        WHERE pusher_id = @Id
        """;

    private const string UpdateFailing = "UPDATE pushers SET failing_since = @FailingSince WHERE pusher_id = @Id";

    private sealed class Row
    {
        public long Id { get; set; }

        public string UserId { get; set; } = string.Empty;

        public string? DeviceId { get; set; }

        public string Kind { get; set; } = string.Empty;

        public string AppId { get; set; } = string.Empty;

        public string Pushkey { get; set; } = string.Empty;

        public string AppDisplayName { get; set; } = string.Empty;

        public string DeviceDisplayName { get; set; } = string.Empty;

        public string ProfileTag { get; set; } = string.Empty;

        public string Lang { get; set; } = string.Empty;

        public string DataJson { get; set; } = "{}";

        public long PushkeyTs { get; set; }

        public long LastStreamOrdering { get; set; }

        public long? FailingSince { get; set; }

        public Pusher ToPusher() => new(Id, UserId, DeviceId, Kind, AppId, Pushkey, AppDisplayName, DeviceDisplayName, ProfileTag, Lang, DataJson, PushkeyTs, LastStreamOrdering, FailingSince);
    }

    public async Task<IReadOnlyList<Pusher>> GetForUserAsync(string userId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<Row>(new CommandDefinition(SelectForUser, new { UserId = userId }, cancellationToken: ct))).Select(r => r.ToPusher()).ToList();
    }

    /// <summary>
    /// The delivery worker asks for the pushers of everyone a new event notified, after every event; most of them have
    /// none, and are answered from the set of users who have one, without a query.
    /// </summary>
    public async Task<IReadOnlyList<Pusher>> GetForUsersAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        var withPushers = await UsersWithPushersAsync(ct);
        var wanted = userIds.Where(withPushers.Contains).ToArray();
        if (wanted.Length == 0)
        {
            return [];
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<Row>(new CommandDefinition(SelectForUsers, new { UserIds = wanted }, cancellationToken: ct))).Select(r => r.ToPusher()).ToList();
    }

    /// <summary>
    /// The users with at least one pusher, loaded once and forgotten whenever this repository changes the table (the one
    /// writer of it, in this one server process). A load that raced with a change is done again.
    /// </summary>
    private async Task<IReadOnlySet<string>> UsersWithPushersAsync(CancellationToken ct)
    {
        while (true)
        {
            long version;
            lock (_usersLock)
            {
                if (_usersWithPushers is { } cached)
                {
                    return cached;
                }

                version = _changes;
            }

            await using var conn = await db.OpenConnectionAsync(ct);
            var loaded = (await conn.QueryAsync<string>(new CommandDefinition(SelectUsers, cancellationToken: ct))).ToHashSet(StringComparer.Ordinal);
            lock (_usersLock)
            {
                if (_changes == version)
                {
                    _usersWithPushers = loaded;
                    return loaded;
                }
            }
        }
    }

    private void Changed()
    {
        lock (_usersLock)
        {
            _changes++;
            _usersWithPushers = null;
        }
    }

    public async Task<IReadOnlyList<Pusher>> GetAllAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<Row>(new CommandDefinition(SelectAll, cancellationToken: ct))).Select(r => r.ToPusher()).ToList();
    }

    public async Task UpsertAsync(Pusher pusher, bool append, long startAfterStream, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (!append)
        {
            await conn.ExecuteAsync(new CommandDefinition(DeleteOthers, new { pusher.AppId, pusher.Pushkey, pusher.UserId }, tx, cancellationToken: ct));
        }

        await conn.ExecuteAsync(new CommandDefinition(
            Upsert,
            new
            {
                pusher.UserId, pusher.DeviceId, pusher.Kind, pusher.AppId, pusher.Pushkey, pusher.AppDisplayName, pusher.DeviceDisplayName,
                pusher.ProfileTag, pusher.Lang, pusher.DataJson, pusher.PushkeyTs, Start = startAfterStream,
            },
            tx,
            cancellationToken: ct));
        await tx.CommitAsync(ct);
        Changed();
    }

    public async Task<bool> DeleteAsync(string userId, string appId, string pushkey, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var deleted = await conn.ExecuteAsync(new CommandDefinition(Delete, new { UserId = userId, AppId = appId, Pushkey = pushkey }, cancellationToken: ct)) > 0;
        Changed();
        return deleted;
    }

    public async Task<int> DeleteForDeviceAsync(string userId, string deviceId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var deleted = await conn.ExecuteAsync(new CommandDefinition(DeleteForDevice, new { UserId = userId, DeviceId = deviceId }, cancellationToken: ct));
        Changed();
        return deleted;
    }

    public async Task<bool> UpdateProgressAsync(long pusherId, long lastStreamOrdering, long? lastSuccessTs, long? failingSince, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(
            UpdateProgress, new { Id = pusherId, Last = lastStreamOrdering, SuccessTs = lastSuccessTs, FailingSince = failingSince }, cancellationToken: ct)) > 0;
    }

    public async Task SetFailingSinceAsync(long pusherId, long? failingSince, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(UpdateFailing, new { Id = pusherId, FailingSince = failingSince }, cancellationToken: ct));
    }
}
