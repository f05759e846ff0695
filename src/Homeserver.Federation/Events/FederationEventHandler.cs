using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Federation.Client;
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

    /// <summary>Handles one PDU of a transaction; returns null on success or the error to report for it.</summary>
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
            var outcome = await IngestWithGapsAsync(origin, room, pdu, fetchMissing: true, ct);
            return outcome.RejectionReason;
        }
        catch (FederationException e)
        {
            LogGapFailed(pdu.EventId, origin, e.Message);
            return "Could not fetch missing events: " + e.Message;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // One PDU must not fail the whole transaction (its sender would retry it forever); the error is logged.
            LogPduFailed(e, pdu.EventId, origin);
            return "Internal error while processing this event";
        }
    }

    private async Task<RemoteOutcome> IngestWithGapsAsync(string origin, RoomRecord room, Pdu pdu, bool fetchMissing, CancellationToken ct)
    {
        var missing = await MissingPrevsAsync(pdu, ct);
        if (missing.Count > 0 && fetchMissing)
        {
            // Ask the sender for the events between what we have and this one, and take them oldest first.
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
            if (answer.TryGetProperty("events", out var events) && events.ValueKind == JsonValueKind.Array)
            {
                var fetched = new List<Pdu>();
                foreach (var e in events.EnumerateArray())
                {
                    if ((await verifier.VerifyAsync(e, room.Version, ct)).Event is { } ok && ok.RoomId == room.RoomId)
                    {
                        fetched.Add(ok);
                    }
                }

                foreach (var e in fetched.OrderBy(e => e.Depth))
                {
                    await IngestWithGapsAsync(origin, room, e, fetchMissing: false, ct);
                }
            }

            missing = await MissingPrevsAsync(pdu, ct);
        }

        List<IReadOnlyDictionary<StateKey, string>>? missingStates = null;
        if (missing.Count > 0)
        {
            // The gap stays open: take the state after each missing prev event from the sender.
            missingStates = [];
            foreach (var prevId in missing)
            {
                missingStates.Add(await FetchStateAfterAsync(origin, room, prevId, ct));
            }
        }

        return await writer.IngestAsync(room, pdu, missingStates, ct);
    }

    /// <summary>Prev events we do not hold with their state.</summary>
    private async Task<List<string>> MissingPrevsAsync(Pdu pdu, CancellationToken ct)
    {
        var meta = await store.GetEventMetaAsync(pdu.PrevEventIds, ct);
        return pdu.PrevEventIds.Where(id => !meta.TryGetValue(id, out var m) || m.StateAfter is null || m.Rejected).ToList();
    }

    /// <summary>
    /// The state after an event we do not have: <c>/state</c> at it (the state before it, with the auth chain), stored as
    /// outliers after checking, plus the event itself when it is a state event.
    /// </summary>
    private async Task<IReadOnlyDictionary<StateKey, string>> FetchStateAfterAsync(string origin, RoomRecord room, string eventId, CancellationToken ct)
    {
        var path = $"/_matrix/federation/v1/state/{Uri.EscapeDataString(room.RoomId)}?event_id={Uri.EscapeDataString(eventId)}";
        var answer = await client.GetAsync(origin, path, ct, TimeSpan.FromMinutes(2));
        var state = await VerifyAllAsync(room, answer, "pdus", ct);
        var authChain = await VerifyAllAsync(room, answer, "auth_chain", ct);
        var eventAnswer = await client.GetAsync(origin, $"/_matrix/federation/v1/event/{Uri.EscapeDataString(eventId)}", ct);
        var prevEvent = (await VerifyAllAsync(room, eventAnswer, "pdus", ct)).FirstOrDefault(p => p.EventId == eventId);

        var outliers = new List<Pdu>(authChain.Count + state.Count + 1);
        outliers.AddRange(authChain);
        outliers.AddRange(state);
        if (prevEvent is not null)
        {
            outliers.Add(prevEvent);
        }

        var outcomes = await writer.PersistOutliersAsync(room, outliers, ct);
        var result = new Dictionary<StateKey, string>();
        foreach (var e in state)
        {
            if (e.StateKey is not null && outcomes.GetValueOrDefault(e.EventId) is null)
            {
                result[new StateKey(e.Type, e.StateKey)] = e.EventId;
            }
        }

        if (prevEvent?.StateKey is not null && outcomes.GetValueOrDefault(prevEvent.EventId) is null)
        {
            result[new StateKey(prevEvent.Type, prevEvent.StateKey)] = prevEvent.EventId;
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
