using Dapper;
using Homeserver.Core.Federation;
using Npgsql;

namespace Homeserver.Storage.Federation;

/// <summary>
/// The <c>federation_destinations</c> and <c>federation_outbound_edus</c> tables, and the outbound queue derived from
/// <c>events</c> and <c>room_memberships</c>.
/// </summary>
internal sealed class FederationSenderRepository(NpgsqlDataSource db) : IFederationSenderStore
{
    private const string SelectActive = """
        SELECT DISTINCT remote.user_server
        FROM room_memberships remote
        JOIN room_memberships local ON local.room_nid = remote.room_nid AND local.user_server = @Us AND local.membership = 'join'
        WHERE remote.membership = 'join' AND remote.user_server <> @Us
        UNION
        SELECT DISTINCT destination FROM federation_outbound_edus
        """;

    private const string InsertEdus = """
        INSERT INTO federation_outbound_edus (destination, edu_type, content, created_ts)
        SELECT d, @EduType, @Content, @NowTs FROM unnest(@Destinations::text[]) WITH ORDINALITY AS t (d, n) ORDER BY n
        """;

    private const string SelectEdus = """
        SELECT edu_id AS EduId, edu_type AS EduType, content AS ContentJson
        FROM federation_outbound_edus WHERE destination = @Destination ORDER BY edu_id LIMIT @Limit
        """;

    private const string DeleteEdus = "DELETE FROM federation_outbound_edus WHERE destination = @Destination AND edu_id <= @UpTo";

    private const string DeleteOldEdus = "DELETE FROM federation_outbound_edus WHERE created_ts < @Before";

    private const string SelectDestination = """
        SELECT destination AS Destination, last_sent_stream AS LastSentStream, retry_last_ts AS RetryLastTs, retry_interval_ms AS RetryIntervalMs
        FROM federation_destinations WHERE destination = @Destination
        """;

    private const string UpsertDestination = """
        INSERT INTO federation_destinations (destination, last_sent_stream, retry_last_ts, retry_interval_ms)
        VALUES (@Destination, @LastSentStream, @RetryLastTs, @RetryIntervalMs)
        ON CONFLICT (destination) DO UPDATE SET last_sent_stream = EXCLUDED.last_sent_stream,
            retry_last_ts = EXCLUDED.retry_last_ts, retry_interval_ms = EXCLUDED.retry_interval_ms
        """;

    // Our users' timeline events in rooms the destination has been in since before the event (so a server that joins
    // later is not sent the room's history), plus, as Synapse, membership events that take one of its users out of the
    // room: a kick or ban of a user who was joined (the server was in the room before the event, though no longer in
    // room_memberships) and a rescinded invite. The target's previous membership is among a member event's auth
    // events, read from its JSON (each an ID, or in room versions 1 and 2 an [ID, hashes] pair). An invite itself is
    // not sent: the invited server is not in the room, hears of it through /invite, and may not know the room at all.
    private const string SelectPending = """
        SELECT e.event_id AS EventId, e.stream_ordering AS StreamOrdering, e.json AS Json, r.room_version AS RoomVersion
        FROM events e
        JOIN rooms r ON r.room_nid = e.room_nid
        WHERE e.stream_ordering > @After AND e.stream_ordering <= @UpTo
          AND NOT e.outlier AND e.rejection_reason IS NULL AND NOT e.soft_failed
          AND substring(e.sender from position(':' in e.sender) + 1) = @Us
          AND (EXISTS (SELECT 1 FROM room_memberships m
                       WHERE m.room_nid = e.room_nid AND m.user_server = @Destination AND m.membership = 'join' AND m.stream_ordering < e.stream_ordering)
               OR (e.event_type = 'm.room.member' AND substring(e.state_key from position(':' in e.state_key) + 1) = @Destination
                   AND EXISTS (SELECT 1 FROM jsonb_array_elements((e.json::jsonb) -> 'auth_events') AS a (entry)
                               JOIN events p ON p.event_id = CASE jsonb_typeof(a.entry) WHEN 'array' THEN a.entry ->> 0 ELSE a.entry #>> '{}' END
                               WHERE p.event_type = 'm.room.member' AND p.state_key = e.state_key
                                 AND ((p.json::jsonb) -> 'content' ->> 'membership' = 'join'
                                      OR ((p.json::jsonb) -> 'content' ->> 'membership' = 'invite'
                                          AND (e.json::jsonb) -> 'content' ->> 'membership' = 'leave')))))
        ORDER BY e.stream_ordering
        LIMIT @Limit
        """;

    public async Task<IReadOnlyList<string>> GetActiveDestinationsAsync(string ourServer, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<string>(new CommandDefinition(SelectActive, new { Us = ourServer }, cancellationToken: ct))).ToList();
    }

    public async Task<DestinationState?> GetDestinationAsync(string destination, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<DestinationState>(new CommandDefinition(SelectDestination, new { Destination = destination }, cancellationToken: ct));
    }

    public async Task SaveDestinationAsync(DestinationState state, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(UpsertDestination, state, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<OutboundPdu>> GetPendingPdusAsync(string destination, string ourServer, long afterStream, long upToStream, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<OutboundPdu>(new CommandDefinition(
            SelectPending, new { Destination = destination, Us = ourServer, After = afterStream, UpTo = upToStream, Limit = limit }, cancellationToken: ct))).ToList();
    }

    public async Task AddEdusAsync(IReadOnlyCollection<string> destinations, string eduType, string contentJson, long nowTs, CancellationToken ct)
    {
        if (destinations.Count == 0)
        {
            return;
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(
            InsertEdus, new { Destinations = destinations.ToArray(), EduType = eduType, Content = contentJson, NowTs = nowTs }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<OutboundEdu>> GetPendingEdusAsync(string destination, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<OutboundEdu>(new CommandDefinition(SelectEdus, new { Destination = destination, Limit = limit }, cancellationToken: ct))).ToList();
    }

    public async Task DeleteEdusAsync(string destination, long upToEduId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(DeleteEdus, new { Destination = destination, UpTo = upToEduId }, cancellationToken: ct));
    }

    public async Task<int> DeleteEdusBeforeAsync(long beforeTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(DeleteOldEdus, new { Before = beforeTs }, cancellationToken: ct));
    }
}
