using System.Text.Json;
using Homeserver.Crypto;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Relations;

namespace Homeserver.Rooms.Client;

/// <summary>How one event is shown to one client.</summary>
public sealed record ClientEventOptions(string? RequesterUserId, string? RequesterDeviceId, long NowTs, bool IncludeRoomId = true);

/// <summary>
/// Writes events in the client-server API's format ("ClientEvent"): protocol fields dropped, redacted
/// content pruned with <c>unsigned.redacted_because</c>, and <c>unsigned</c> filled with <c>age</c>,
/// <c>transaction_id</c> (only for the device that sent it), <c>prev_content</c>, <c>replaces_state</c> and the
/// bundled aggregations <c>m.relations</c> (latest edit, thread summary, references; annotations are not
/// bundled, as in current Synapse). The related events (redactions, previous state, edits, latest thread
/// events) are looked up beforehand by <see cref="ClientEventLoader"/>.
/// </summary>
public sealed class ClientEventBatch
{
    private static readonly IReadOnlyDictionary<string, EventAggregations> NoAggregations = new Dictionary<string, EventAggregations>();

    private readonly IReadOnlyDictionary<string, Pdu> _related;
    private readonly IReadOnlyDictionary<string, string> _prevStateIds;
    private readonly IReadOnlyDictionary<string, EventAggregations> _aggregations;
    private readonly IReadOnlyDictionary<string, StoredEvent> _aggregated;

    internal ClientEventBatch(
        IReadOnlyList<StoredEvent> events,
        IReadOnlyDictionary<string, Pdu> related,
        IReadOnlyDictionary<string, string> prevStateIds,
        IReadOnlyDictionary<string, EventAggregations>? aggregations = null,
        IReadOnlyDictionary<string, StoredEvent>? aggregated = null)
    {
        Events = events;
        _related = related;
        _prevStateIds = prevStateIds;
        _aggregations = aggregations ?? NoAggregations;
        _aggregated = aggregated ?? new Dictionary<string, StoredEvent>();
    }

    public IReadOnlyList<StoredEvent> Events { get; }

    public void Write(Utf8JsonWriter w, StoredEvent stored, ClientEventOptions options) => Write(w, stored.Event, stored, options, depth: 0);

    private void Write(Utf8JsonWriter w, Pdu pdu, StoredEvent? stored, ClientEventOptions options, int depth)
    {
        var version = pdu.RoomVersion;
        Pdu? redaction = stored?.RedactedBy is { } rid && _related.TryGetValue(rid, out var r) ? r : null;

        w.WriteStartObject();
        w.WritePropertyName("content"u8);
        if (redaction is not null)
        {
            using var redacted = JsonDocument.Parse(Redaction.Redact(pdu.Json, version));
            if (redacted.RootElement.TryGetProperty("content", out var rc))
            {
                rc.WriteTo(w);
            }
            else
            {
                w.WriteStartObject();
                w.WriteEndObject();
            }
        }
        else
        {
            pdu.Content.WriteTo(w);
        }

        w.WriteString("event_id"u8, pdu.EventId);
        w.WriteNumber("origin_server_ts"u8, pdu.OriginServerTs);
        if (options.IncludeRoomId)
        {
            w.WriteString("room_id"u8, pdu.RoomId);
        }

        w.WriteString("sender"u8, pdu.Sender);
        if (pdu.StateKey is not null)
        {
            w.WriteString("state_key"u8, pdu.StateKey);
        }

        w.WriteString("type"u8, pdu.Type);
        if (pdu.Redacts is not null && redaction is null)
        {
            // v11 moved redacts into content; clients written for older versions still read it at the top level.
            w.WriteString("redacts"u8, pdu.Redacts);
        }

        w.WritePropertyName("unsigned"u8);
        w.WriteStartObject();
        w.WriteNumber("age"u8, Math.Max(0, options.NowTs - pdu.OriginServerTs));
        if (stored?.Transaction is { } txn && txn.UserId == options.RequesterUserId && txn.DeviceId == options.RequesterDeviceId)
        {
            w.WriteString("transaction_id"u8, txn.TxnId);
        }

        if (pdu.StateKey is not null && _prevStateIds.TryGetValue(pdu.EventId, out var prevId))
        {
            w.WriteString("replaces_state"u8, prevId);
            if (_related.TryGetValue(prevId, out var prev))
            {
                w.WritePropertyName("prev_content"u8);
                prev.Content.WriteTo(w);
                w.WriteString("prev_sender"u8, prev.Sender);
            }
        }

        if (redaction is not null && depth == 0)
        {
            // redacted_by is not in the spec, but Synapse has always sent it beside redacted_because and clients
            // (and SyTest) read it.
            w.WriteString("redacted_by"u8, redaction.EventId);
            w.WritePropertyName("redacted_because"u8);
            Write(w, redaction, null, options, depth + 1);
        }

        if (redaction is null && depth <= 1 && _aggregations.TryGetValue(pdu.EventId, out var aggregations))
        {
            WriteAggregations(w, aggregations, options, depth);
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>unsigned."m.relations" (client-server API, "Aggregations of child events").</summary>
    private void WriteAggregations(Utf8JsonWriter w, EventAggregations aggregations, ClientEventOptions options, int depth)
    {
        var edit = aggregations.LatestEditId is { } editId ? _aggregated.GetValueOrDefault(editId) : null;
        var thread = depth == 0 && aggregations.Thread is { } t && _aggregated.TryGetValue(t.LatestEventId, out var latest) ? (t, latest) : default;
        var references = depth == 0 ? aggregations.References : [];
        if (edit is null && thread.latest is null && references.Count == 0)
        {
            return;
        }

        w.WritePropertyName("m.relations"u8);
        w.WriteStartObject();
        if (edit is not null)
        {
            // The whole replacement event; clients show its m.new_content (MSC3925, as Synapse).
            w.WritePropertyName(RelationTypes.Replace);
            Write(w, edit.Event, edit, options, 2);
        }

        if (thread.latest is not null)
        {
            w.WritePropertyName(RelationTypes.Thread);
            w.WriteStartObject();
            w.WritePropertyName("latest_event"u8);
            Write(w, thread.latest.Event, thread.latest, options, depth + 1);
            w.WriteNumber("count"u8, thread.t.Count);
            w.WriteBoolean("current_user_participated"u8, thread.t.CurrentUserParticipated);
            w.WriteEndObject();
        }

        if (references.Count > 0)
        {
            w.WritePropertyName(RelationTypes.Reference);
            w.WriteStartObject();
            w.WritePropertyName("chunk"u8);
            w.WriteStartArray();
            foreach (var id in references)
            {
                w.WriteStartObject();
                w.WriteString("event_id"u8, id);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    /// <summary>The event as a standalone JSON document (for endpoints that return one event).</summary>
    public byte[] ToJson(StoredEvent stored, ClientEventOptions options)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            Write(w, stored, options);
        }

        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>
/// Loads what <see cref="ClientEventBatch"/> needs for a set of events: their redactions, the state they replaced
/// and their bundled aggregations (a constant number of queries per batch, whatever its size).
/// </summary>
public sealed class ClientEventLoader(IRoomReadStore reads, EventLookup lookup, IRelationStore? relations = null)
{
    public Task<ClientEventBatch> LoadAsync(IReadOnlyList<StoredEvent> events, CancellationToken ct) => LoadAsync(events, null, ct);

    /// <param name="requesterUserId">Who reads: the thread summaries say whether they took part.</param>
    public async Task<ClientEventBatch> LoadAsync(IReadOnlyList<StoredEvent> events, string? requesterUserId, CancellationToken ct)
    {
        var wanted = new HashSet<string>(StringComparer.Ordinal);
        var prevStateIds = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (e.RedactedBy is { } r)
            {
                wanted.Add(r);
            }

            if (e.Event.StateKey is { } sk && e.StateBefore is { } before)
            {
                var key = new StateKey(e.Event.Type, sk);
                var entries = await reads.GetStateEntriesAsync(before, [key], ct);
                if (entries.TryGetValue(key, out var prevId))
                {
                    prevStateIds[e.EventId] = prevId;
                    wanted.Add(prevId);
                }
            }
        }

        var (aggregations, aggregated) = await LoadAggregationsAsync(events, requesterUserId, ct);
        foreach (var e in aggregated.Values)
        {
            if (e.RedactedBy is { } r)
            {
                wanted.Add(r);
            }
        }

        var related = await lookup.GetEventsAsync(wanted, ct);
        return new ClientEventBatch(events, related, prevStateIds, aggregations, aggregated);
    }

    /// <summary>
    /// The aggregations of the events that can have them, and the events they bundle (edits, latest thread events
    /// with their own latest edit). State events, redacted events, edits and annotations get none (as Synapse).
    /// </summary>
    private async Task<(Dictionary<string, EventAggregations>, Dictionary<string, StoredEvent>)> LoadAggregationsAsync(
        IReadOnlyList<StoredEvent> events, string? userId, CancellationToken ct)
    {
        var aggregations = new Dictionary<string, EventAggregations>(StringComparer.Ordinal);
        var aggregated = new Dictionary<string, StoredEvent>(StringComparer.Ordinal);
        if (relations is null)
        {
            return (aggregations, aggregated);
        }

        var candidates = events.Where(CanHaveAggregations).Select(e => e.EventId).Distinct().ToList();
        if (candidates.Count == 0)
        {
            return (aggregations, aggregated);
        }

        foreach (var (id, a) in await relations.GetAggregationsAsync(candidates, userId, ct))
        {
            aggregations[id] = a;
        }

        var bundled = aggregations.Values.SelectMany(a => new[] { a.LatestEditId, a.Thread?.LatestEventId }).OfType<string>().Distinct().ToList();
        if (bundled.Count == 0)
        {
            return (aggregations, aggregated);
        }

        foreach (var e in await reads.GetStoredEventsAsync(bundled, ct))
        {
            aggregated[e.EventId] = e;
        }

        // The latest event of a thread is shown with its own latest edit.
        var latest = aggregations.Values.Select(a => a.Thread?.LatestEventId).OfType<string>()
            .Where(id => aggregated.TryGetValue(id, out var e) && CanHaveAggregations(e)).Distinct().ToList();
        if (latest.Count > 0)
        {
            var nested = await relations.GetAggregationsAsync(latest, userId, ct);
            var edits = new List<string>();
            foreach (var (id, a) in nested)
            {
                if (a.LatestEditId is { } edit)
                {
                    aggregations.TryAdd(id, a with { Thread = null, References = [] });
                    edits.Add(edit);
                }
            }

            foreach (var e in await reads.GetStoredEventsAsync(edits.Where(x => !aggregated.ContainsKey(x)).ToList(), ct))
            {
                aggregated[e.EventId] = e;
            }
        }

        return (aggregations, aggregated);
    }

    private static bool CanHaveAggregations(StoredEvent e) =>
        e.RedactedBy is null && e.Event.StateKey is null
        && RelationInfo.From(e.Event)?.RelType is not (RelationTypes.Replace or RelationTypes.Annotation);
}
