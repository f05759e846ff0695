using System.Text.Json;
using Homeserver.Crypto;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Client;

/// <summary>How one event is shown to one client.</summary>
public sealed record ClientEventOptions(string? RequesterUserId, string? RequesterDeviceId, long NowTs, bool IncludeRoomId = true);

/// <summary>
/// Writes events in the client-server API's format ("ClientEvent"): protocol fields dropped, redacted
/// content pruned with <c>unsigned.redacted_because</c>, and <c>unsigned</c> filled with <c>age</c>,
/// <c>transaction_id</c> (only for the device that sent it), <c>prev_content</c> and <c>replaces_state</c>.
/// The related events (redactions, previous state) are looked up beforehand by <see cref="ClientEventLoader"/>.
/// </summary>
public sealed class ClientEventBatch
{
    private readonly IReadOnlyDictionary<string, Pdu> _related;
    private readonly IReadOnlyDictionary<string, string> _prevStateIds;

    internal ClientEventBatch(IReadOnlyList<StoredEvent> events, IReadOnlyDictionary<string, Pdu> related, IReadOnlyDictionary<string, string> prevStateIds)
    {
        Events = events;
        _related = related;
        _prevStateIds = prevStateIds;
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
            w.WritePropertyName("redacted_because"u8);
            Write(w, redaction, null, options, depth + 1);
        }

        w.WriteEndObject();
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

/// <summary>Loads what <see cref="ClientEventBatch"/> needs for a set of events: their redactions and the state they replaced.</summary>
public sealed class ClientEventLoader(IRoomReadStore reads, EventLookup lookup)
{
    public async Task<ClientEventBatch> LoadAsync(IReadOnlyList<StoredEvent> events, CancellationToken ct)
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

        var related = await lookup.GetEventsAsync(wanted, ct);
        return new ClientEventBatch(events, related, prevStateIds);
    }
}
