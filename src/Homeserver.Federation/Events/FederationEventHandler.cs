using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Federation.Client;
using Homeserver.Http;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;
using Homeserver.Rooms.Writing;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation.Events;

/// <summary>
/// Receives timeline events from other servers (server-server API, "Checks performed on receipt of a PDU" and
/// "Retrieving events"): verifies them, fills gaps in the DAG with <c>get_missing_events</c>, falls back to the
/// state at a missing prev event (<c>/state</c>) when the gap cannot be closed, and hands each event to the room's
/// writer, which applies the authorisation checks and stores it.
/// </summary>
public sealed partial class FederationEventHandler(
    RoomService rooms,
    RoomWriter writer,
    IRoomStore store,
    PduVerifier verifier,
    FederationClient client,
    ILogger<FederationEventHandler> logger)
{
    /// <summary>How many missing events we ask for at once.</summary>
    public const int MissingEventsLimit = 10;

    /// <summary>Handles one PDU of a transaction: its event ID (when it can be told) and null or the error to report for it.</summary>
    public async Task<(string? EventId, string? Error)> ReceiveWithIdAsync(string origin, JsonElement json, CancellationToken ct)
    {
        string? eventId = null;
        if (json.ValueKind == JsonValueKind.Object && json.TryGetProperty("room_id", out var r) && r.ValueKind == JsonValueKind.String
            && await rooms.FindRoomAsync(r.GetString()!, ct) is { } room)
        {
            try
            {
                eventId = Homeserver.Crypto.EventHashing.GetEventId(json, room.Version);
            }
            catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException or Homeserver.Crypto.CanonicalJsonException or InvalidOperationException)
            {
                eventId = null;
            }
        }

        return (eventId, await ReceiveAsync(origin, json, ct));
    }

    /// <summary>
    /// Handles one PDU of a transaction; returns null when it was processed or the error to report for it. As Synapse
    /// (which stages a PDU once its signatures check out and answers before processing it), the sender hears of an
    /// error only when the PDU is malformed, badly signed, for a room we are not in, or an internal failure: an event our
    /// checks reject or soft-fail is stored as such, and one whose prev events the sender does not divulge is dropped,
    /// each our own view of the room and nothing the sender could act on.
    /// </summary>
    public async Task<string?> ReceiveAsync(string origin, JsonElement json, CancellationToken ct)
    {
        if (json.ValueKind != JsonValueKind.Object || !json.TryGetProperty("room_id", out var ridEl) || ridEl.ValueKind != JsonValueKind.String)
        {
            return "PDU has no room_id";
        }

        var room = await rooms.FindRoomAsync(ridEl.GetString()!, ct);
        if (room is null)
        {
            return "Unknown room";
        }

        var head = await rooms.GetHeadAsync(room, ct);
        if (head.ForwardExtremities.Count == 0)
        {
            return "This server is not in the room";
        }

        var verified = await verifier.VerifyAsync(json, room.Version, ct);
        if (verified.Event is not { } pdu)
        {
            LogRefused(origin, verified.Error ?? "invalid");
            return verified.Error;
        }

        try
        {
            await ReceiveVerifiedAsync(origin, room, pdu, ct);
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // One PDU must not fail the whole transaction (its sender would retry it forever); the error is logged.
            LogPduFailed(e, pdu.EventId, origin);
            return "Internal error while processing this event";
        }
    }

    /// <summary>
    /// A pushed event, as Synapse's on_receive_pdu: when prev events are missing, the sender is asked for them with
    /// <c>get_missing_events</c>, and the events it gives (oldest first) are taken in with the state at any gap they
    /// leave fetched from it. If the event's own prev events are still missing then, it is dropped: the sender did
    /// not divulge them, and we do not build it on state we would have to take on trust.
    /// </summary>
    private async Task ReceiveVerifiedAsync(string origin, RoomRecord room, Pdu pdu, CancellationToken ct)
    {
        if ((await writer.MissingPrevEventsAsync(pdu, ct)).Count > 0)
        {
            List<Pdu> pulled;
            try
            {
                pulled = await GetMissingEventsAsync(origin, room, pdu, ct);
            }
            catch (FederationException e)
            {
                LogMissingEventsFailed(pdu.EventId, origin, e.Message);
                pulled = [];
            }

            foreach (var e in pulled.OrderBy(e => e.Depth))
            {
                try
                {
                    await IngestPulledAsync(origin, room, e, ct);
                }
                catch (Exception ex) when (ex is FederationException or MatrixException)
                {
                    // A pulled event we cannot place is left out; the pushed one is judged on what we then have.
                    LogGapFailed(e.EventId, origin, ex.Message);
                }
            }

            if ((await writer.MissingPrevEventsAsync(pdu, ct)).Count > 0)
            {
                // Synapse drops it the same way (and, since it processes pushed events after answering, reports nothing).
                LogDropped(pdu.EventId, origin);
                return;
            }
        }

        await writer.IngestAsync(room, pdu, null, ct);
    }

    /// <summary>An event from <c>get_missing_events</c>: the state after each prev event we lack is fetched from the sender.</summary>
    private async Task IngestPulledAsync(string origin, RoomRecord room, Pdu pdu, CancellationToken ct) =>
        await writer.IngestAsync(room, pdu, await MissingPrevStatesAsync(origin, room, pdu, ct), ct);

    /// <summary>The states after the prev events of <paramref name="pdu"/> that we lack, fetched from <paramref name="origin"/>; null when we lack none.</summary>
    private async Task<List<IReadOnlyDictionary<StateKey, string>>?> MissingPrevStatesAsync(string origin, RoomRecord room, Pdu pdu, CancellationToken ct)
    {
        var missing = await writer.MissingPrevEventsAsync(pdu, ct);
        if (missing.Count == 0)
        {
            return null;
        }

        var states = new List<IReadOnlyDictionary<StateKey, string>>();
        foreach (var prevId in missing)
        {
            states.Add(await FetchStateAfterAsync(origin, room, prevId, ct));
        }

        return states;
    }

    private async Task<List<Pdu>> GetMissingEventsAsync(string origin, RoomRecord room, Pdu pdu, CancellationToken ct)
    {
        var head = await rooms.GetHeadAsync(room, ct);
        var minDepth = head.ForwardExtremities.Count == 0 ? 0 : head.ForwardExtremities.Min(e => e.Depth);
        var request = new JsonObject
        {
            ["earliest_events"] = new JsonArray([.. head.ForwardExtremities.Select(e => (JsonNode)JsonValue.Create(e.EventId))]),
            ["latest_events"] = new JsonArray(JsonValue.Create(pdu.EventId)),
            ["limit"] = MissingEventsLimit,
            ["min_depth"] = minDepth,
        };
        var answer = await client.PostAsync(origin, $"/_matrix/federation/v1/get_missing_events/{Uri.EscapeDataString(room.RoomId)}", JsonSerializer.SerializeToElement(request), ct);
        return await VerifyAllAsync(room, answer, "events", ct);
    }

    /// <summary>
    /// The state after an event we do not have, as Synapse asks for it: <c>/state_ids</c> at it (the state before it and
    /// its auth chain), then the events of those we lack, one by one with <c>/event</c>, or all at once with
    /// <c>/state</c> when we lack at least a tenth of them; they are stored as outliers after checking. The event itself
    /// counts when it is an accepted state event.
    /// </summary>
    private async Task<IReadOnlyDictionary<StateKey, string>> FetchStateAfterAsync(string origin, RoomRecord room, string eventId, CancellationToken ct)
    {
        var query = $"{Uri.EscapeDataString(room.RoomId)}?event_id={Uri.EscapeDataString(eventId)}";
        var ids = await client.GetAsync(origin, "/_matrix/federation/v1/state_ids/" + query, ct, TimeSpan.FromMinutes(2));
        var stateIds = ids.OptionalStringArray("pdu_ids") ?? [];
        var authIds = ids.OptionalStringArray("auth_chain_ids") ?? [];
        var wanted = stateIds.Concat(authIds).Append(eventId).Distinct(StringComparer.Ordinal).ToList();
        var known = await store.GetEventMetaAsync(wanted, ct);
        var missing = wanted.Where(id => !known.ContainsKey(id)).ToList();

        var fetched = new List<Pdu>();
        if (missing.Count * 10 >= stateIds.Count + authIds.Count)
        {
            var answer = await client.GetAsync(origin, "/_matrix/federation/v1/state/" + query, ct, TimeSpan.FromMinutes(2));
            fetched.AddRange(await VerifyAllAsync(room, answer, "auth_chain", ct));
            fetched.AddRange(await VerifyAllAsync(room, answer, "pdus", ct));
            missing = known.ContainsKey(eventId) || fetched.Any(e => e.EventId == eventId) ? [] : [eventId];
        }

        foreach (var id in missing)
        {
            try
            {
                var answer = await client.GetAsync(origin, $"/_matrix/federation/v1/event/{Uri.EscapeDataString(id)}", ct);
                fetched.AddRange((await VerifyAllAsync(room, answer, "pdus", ct)).Where(p => p.EventId == id));
            }
            catch (FederationException e)
            {
                // As Synapse: the state is built from what could be had.
                LogEventFetchFailed(id, origin, e.Message);
            }
        }

        if (fetched.Count > 0)
        {
            await writer.PersistOutliersAsync(room, fetched, ct);
        }

        var events = await rooms.GetEventsAsync([.. stateIds, eventId], ct);
        if (!events.ContainsKey(eventId))
        {
            throw new FederationException($"{origin} did not give us the event {eventId}");
        }

        var accepted = await store.GetEventMetaAsync([.. stateIds, eventId], ct);
        var result = new Dictionary<StateKey, string>();
        foreach (var id in stateIds.Append(eventId))
        {
            if (events.TryGetValue(id, out var e) && e.RoomId == room.RoomId && e.StateKey is not null
                && accepted.TryGetValue(id, out var m) && !m.Rejected)
            {
                result[new StateKey(e.Type, e.StateKey)] = id;
            }
        }

        return result;
    }

    internal async Task<List<Pdu>> VerifyAllAsync(RoomRecord room, JsonElement answer, string property, CancellationToken ct)
    {
        var result = new List<Pdu>();
        if (!answer.TryGetProperty(property, out var list) || list.ValueKind != JsonValueKind.Array)
        {
            return result;
        }

        foreach (var e in list.EnumerateArray())
        {
            var verified = await verifier.VerifyAsync(e, room.Version, ct);
            if (verified.Event is { } ok && ok.RoomId == room.RoomId)
            {
                result.Add(ok);
            }
        }

        return result;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Processing {EventId} from {Origin} failed")]
    private partial void LogPduFailed(Exception e, string eventId, string origin);

    [LoggerMessage(Level = LogLevel.Information, Message = "Refused a PDU from {Origin}: {Reason}")]
    private partial void LogRefused(string origin, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "get_missing_events before {EventId} from {Origin} failed: {Reason}")]
    private partial void LogMissingEventsFailed(string eventId, string origin, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Could not fetch state event {EventId} from {Origin}: {Reason}")]
    private partial void LogEventFetchFailed(string eventId, string origin, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Dropped {EventId} from {Origin}: its prev events could not be had")]
    private partial void LogDropped(string eventId, string origin);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not fill the gap before {EventId} from {Origin}: {Reason}")]
    private partial void LogGapFailed(string eventId, string origin, string reason);
}

/// <summary>Transaction IDs already handled per origin, so a retried transaction is not processed twice.</summary>
public sealed class TransactionDeduplicator
{
    private const int Capacity = 10_000;
    private readonly Dictionary<string, JsonObject> _done = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();
    private readonly object _lock = new();

    public JsonObject? Get(string origin, string txnId)
    {
        lock (_lock)
        {
            return _done.GetValueOrDefault(origin + "\n" + txnId)?.DeepClone().AsObject();
        }
    }

    public void Remember(string origin, string txnId, JsonObject response)
    {
        lock (_lock)
        {
            var key = origin + "\n" + txnId;
            if (_done.TryAdd(key, response))
            {
                _order.Enqueue(key);
                if (_order.Count > Capacity)
                {
                    _done.Remove(_order.Dequeue());
                }
            }
        }
    }
}
