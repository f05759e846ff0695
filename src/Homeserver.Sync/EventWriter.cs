using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Crypto;
using Homeserver.Rooms;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Sync;

/// <summary>
/// Writes the room events of a <c>/sync</c> answer (timeline and state) as its filter asks (client-server API,
/// "Filtering": <c>event_format</c> and <c>event_fields</c>):
/// <list type="bullet">
/// <item><c>client</c> (the default): client events (<see cref="ClientEventBatch"/>);</item>
/// <item><c>federation</c>: the PDU as servers exchange it (redacted when clients see it redacted), with, as Synapse
/// gives it, its <c>event_id</c> and the <c>unsigned</c> data the server adds (<c>age</c>, <c>transaction_id</c>,
/// <c>prev_content</c>, <c>redacted_because</c>, itself in the federation form);</item>
/// <item><c>event_fields</c>: only the listed dot-separated paths (appendices, "Dot-separated property paths":
/// <c>\.</c> is a literal dot, <c>\\</c> a literal backslash). An empty list keeps every field, as Synapse does
/// (the spec lets a server include more fields than were requested).</item>
/// </list>
/// </summary>
public sealed class EventWriter
{
    private readonly ClientEventBatch _batch;
    private readonly ClientEventOptions _options;
    private readonly bool _federation;
    private readonly IReadOnlyDictionary<string, Pdu> _redactions;
    private readonly EventFactory _signer;
    private readonly List<string[]>? _paths;

    private EventWriter(ClientEventBatch batch, ClientEventOptions options, SyncFilter filter, IReadOnlyDictionary<string, Pdu> redactions, EventFactory signer)
    {
        _batch = batch;
        _signer = signer;
        _options = options;
        _federation = filter.EventFormat == SyncFilter.FederationFormat;
        _redactions = redactions;
        _paths = filter.EventFields is { Count: > 0 } fields ? fields.Select(SplitPath).ToList() : null;
    }

    /// <summary>Loads what the events need (their redactions, the state they replace) and makes their writer.</summary>
    public static async Task<EventWriter> CreateAsync(
        ClientEventLoader loader, EventLookup lookup, EventFactory signer, IReadOnlyList<StoredEvent> events, ClientEventOptions options, SyncFilter filter, CancellationToken ct)
    {
        var batch = await loader.LoadAsync(events, options.RequesterUserId, ct);
        IReadOnlyDictionary<string, Pdu> redactions = new Dictionary<string, Pdu>();
        if (filter.EventFormat == SyncFilter.FederationFormat)
        {
            // The federation form of redacted_because needs the redaction as a PDU.
            var ids = events.Select(e => e.RedactedBy).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
            if (ids.Count > 0)
            {
                redactions = await lookup.GetEventsAsync(ids, ct);
            }
        }

        return new EventWriter(batch, options, filter, redactions, signer);
    }

    public void Write(Utf8JsonWriter w, StoredEvent e)
    {
        if (!_federation && _paths is null)
        {
            _batch.Write(w, e, _options);
            return;
        }

        var client = JsonNode.Parse(_batch.ToJson(e, _options))!.AsObject();
        var json = _federation ? ToFederation(e, client) : client;
        if (_paths is null)
        {
            json.WriteTo(w);
            return;
        }

        var result = new JsonObject();
        foreach (var path in _paths)
        {
            Copy(json, result, path);
        }

        result.WriteTo(w);
    }

    /// <summary>The PDU, redacted when the client form is, with <c>event_id</c> and the client form's <c>unsigned</c>.</summary>
    private JsonObject ToFederation(StoredEvent e, JsonObject client)
    {
        var unsigned = client["unsigned"] as JsonObject ?? new JsonObject();
        client.Remove("unsigned");
        var redacted = unsigned.ContainsKey("redacted_because");
        // Our events with our signature, which the room's writer left for the events that leave (EventFactory.BuildLocal).
        var signed = _signer.ForFederation(e.Event);
        var pdu = Parse(redacted ? Redaction.Redact(signed, e.Event.RoomVersion) : Encoding.UTF8.GetBytes(signed.GetRawText()));

        // What the PDU carried in unsigned (e.g. invite_room_state from another server), under what this server adds.
        if (pdu["unsigned"] is JsonObject carried)
        {
            pdu.Remove("unsigned");
            foreach (var (key, value) in unsigned.ToList())
            {
                unsigned.Remove(key);
                carried[key] = value;
            }

            unsigned = carried;
        }

        if (redacted && e.RedactedBy is { } redactionId && _redactions.TryGetValue(redactionId, out var redaction))
        {
            var because = Parse(Encoding.UTF8.GetBytes(_signer.ForFederation(redaction).GetRawText()));
            because.Remove("unsigned");
            because["event_id"] = redaction.EventId;
            because["unsigned"] = new JsonObject { ["age"] = Math.Max(0, _options.NowTs - redaction.OriginServerTs) };
            unsigned["redacted_because"] = because;
        }

        pdu["event_id"] = e.EventId;
        pdu["unsigned"] = unsigned;
        return pdu;
    }

    private static JsonObject Parse(byte[] json) => JsonNode.Parse(json)!.AsObject();

    private static void Copy(JsonObject source, JsonObject target, string[] path)
    {
        for (var i = 0; i < path.Length; i++)
        {
            if (!source.TryGetPropertyValue(path[i], out var value))
            {
                return;
            }

            if (i == path.Length - 1)
            {
                target[path[i]] = value?.DeepClone();
                return;
            }

            if (value is not JsonObject next)
            {
                return;
            }

            if (target[path[i]] is not JsonObject nextTarget)
            {
                target[path[i]] = nextTarget = new JsonObject();
            }

            source = next;
            target = nextTarget;
        }
    }

    /// <summary>Splits a dot-separated path: <c>content.m\.relates_to</c> is <c>content</c>, <c>m.relates_to</c>; other escapes stay as written.</summary>
    internal static string[] SplitPath(string path)
    {
        var parts = new List<string>();
        var current = new StringBuilder();
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] == '\\' && i + 1 < path.Length && path[i + 1] is '.' or '\\')
            {
                current.Append(path[++i]);
            }
            else if (path[i] == '.')
            {
                parts.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(path[i]);
            }
        }

        parts.Add(current.ToString());
        return parts.ToArray();
    }
}
