using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Crypto;

namespace Homeserver.Rooms.Events;

/// <summary>The fields of a new event that the caller chooses.</summary>
public sealed record EventDraft(string Type, string? StateKey, JsonObject Content, string Sender, string? Redacts = null);

/// <summary>
/// Builds events that originate here: fills the protocol fields for the room version (prev/auth events,
/// depth, origin), adds the content hash, signs, and computes the event ID
/// (server-server API, "Signing Events"; room versions' "Event format" sections).
/// </summary>
public sealed class EventFactory(string serverName, Ed25519SigningKey signingKey)
{
    /// <summary>How many signatures of deferred events <see cref="ForFederation(string, JsonElement, RoomVersion)"/> keeps.</summary>
    private const int SignatureCacheSize = 4096;

    // The signatures added to our events as they leave, by event ID: a room's events go to every other server in it, and
    // the signature (over the redacted form, which the event ID fixes) is the same each time.
    private readonly ConcurrentDictionary<string, string> _signatures = new(StringComparer.Ordinal);

    public string ServerName => serverName;

    /// <summary>
    /// Builds and hashes an event of ours and computes its ID, leaving <c>signatures</c> empty (<see cref="Signed"/>
    /// signs it at once). <paramref name="roomId"/> is null only for a v12 create event, whose room ID is derived from
    /// it. <paramref name="referenced"/> resolves prev/auth event IDs to their events, needed for the <c>[id, hashes]</c>
    /// pairs of room versions 1 and 2.
    ///
    /// The signature is added when the event leaves this server (<see cref="ForFederation(Pdu)"/>). Nothing else reads
    /// it (clients get events without signatures), so the events of a room no other server is in are never signed, and a
    /// busy room's writer does not spend its time on Ed25519 (about a tenth of the machine's CPU per send; ROOMS.md).
    /// Ed25519 signatures are deterministic and cover the redacted event without <c>signatures</c>, so the signature
    /// added later is the one that signing now would give, and the event ID (the reference hash, which leaves
    /// <c>signatures</c> out too) is the same either way. An empty <c>signatures</c> marks such an event: every event
    /// from another server is stored only once its sender's server's signature has been checked.
    /// </summary>
    public Pdu BuildLocal(
        RoomVersion version,
        string? roomId,
        EventDraft draft,
        IReadOnlyList<string> prevEvents,
        IReadOnlyList<string> authEvents,
        long depth,
        long originServerTs,
        Func<string, Pdu?>? referenced = null)
    {
        var json = BuildTemplate(version, roomId, draft, prevEvents, authEvents, depth, originServerTs, referenced);
        AddServerEventId(version, json);
        json["signatures"] = new JsonObject();
        var hashed = EventHashing.AddContentHash(JsonSerializer.SerializeToElement(json), CanonicalJson.ModeFor(version));
        var element = JsonElement.Parse(hashed);
        return Pdu.Parse(element, version, EventHashing.GetEventId(element, version));
    }

    /// <summary>An event built by <see cref="BuildLocal"/>, signed now (e.g. for tests and tools that hand it on themselves).</summary>
    public Pdu Signed(Pdu local)
    {
        ArgumentNullException.ThrowIfNull(local);
        return Pdu.Parse(ForFederation(local), local.RoomVersion, local.EventId);
    }

    /// <summary>The event as it goes to another server: with our signature if it is ours and was built unsigned (<see cref="BuildLocal"/>).</summary>
    public JsonElement ForFederation(Pdu pdu)
    {
        ArgumentNullException.ThrowIfNull(pdu);
        return ForFederation(pdu.EventId, pdu.Json, pdu.RoomVersion);
    }

    /// <summary>
    /// <paramref name="json"/> (event <paramref name="eventId"/>, full or redacted) with our signature added when its
    /// sender is one of our users and it has none of ours yet; otherwise as it is.
    /// </summary>
    public JsonElement ForFederation(string eventId, JsonElement json, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(eventId);
        ArgumentNullException.ThrowIfNull(version);
        if (!NeedsOurSignature(json))
        {
            return json;
        }

        if (!_signatures.TryGetValue(eventId, out var signature))
        {
            signature = EventSigning.CreateSignature(json, version, signingKey);
            if (_signatures.Count >= SignatureCacheSize)
            {
                _signatures.Clear();
            }

            _signatures[eventId] = signature;
        }

        return JsonElement.Parse(EventSigning.WithSignature(json, version, serverName, signingKey.KeyId, signature));
    }

    /// <summary>An event of one of our users without a signature of ours (built by <see cref="BuildLocal"/>, or an invite the invitee's server signed).</summary>
    private bool NeedsOurSignature(JsonElement json) =>
        json.ValueKind == JsonValueKind.Object
        && json.TryGetProperty("sender", out var sender) && sender.ValueKind == JsonValueKind.String
        && MatrixId.ServerOf(sender.GetString()!) == serverName
        && JsonSigning.GetSignatureKeyIds(json, serverName).Count == 0;

    /// <summary>Room versions 1 and 2 carry an event ID the origin server chose (<c>$random:server</c>).</summary>
    private void AddServerEventId(RoomVersion version, JsonObject json)
    {
        if (version.EventIdFormat == EventIdFormat.ServerGenerated && !json.ContainsKey("event_id"))
        {
            json["event_id"] = EventHashing.GenerateServerEventId(serverName);
        }
    }

    /// <summary>Hashes and signs a complete event (e.g. a join built from another server's template) and parses it.</summary>
    public Pdu Sign(RoomVersion version, JsonObject json)
    {
        var (element, eventId) = SignUnparsed(version, json);
        return Pdu.Parse(element, version, eventId);
    }

    /// <summary>
    /// Hashes and signs an event without parsing it as a PDU of <paramref name="version"/>: for a template another server
    /// built, which is sent back as it is even when it does not follow the version's format (as Synapse does).
    /// </summary>
    public (JsonElement Json, string EventId) SignUnparsed(RoomVersion version, JsonObject json)
    {
        AddServerEventId(version, json);

        var unsigned = JsonSerializer.SerializeToElement(json);
        var signed = EventSigning.HashAndSign(unsigned, version, serverName, signingKey);
        var element = JsonElement.Parse(signed); // a document of its own, without a pooled one to copy it out of
        return (element, EventHashing.GetEventId(element, version));
    }

    /// <summary>Adds our signature to an event another server built (e.g. an invite of one of our users).</summary>
    public Pdu CoSign(Pdu pdu)
    {
        var signed = EventSigning.Sign(pdu.Json, pdu.RoomVersion, serverName, signingKey);
        using var doc = JsonDocument.Parse(signed);
        return Pdu.Parse(doc.RootElement.Clone(), pdu.RoomVersion, pdu.EventId);
    }

    /// <summary>The event without hashes and signatures: what make_join/make_leave hand to another server to complete.</summary>
    public JsonObject BuildTemplate(
        RoomVersion version,
        string? roomId,
        EventDraft draft,
        IReadOnlyList<string> prevEvents,
        IReadOnlyList<string> authEvents,
        long depth,
        long originServerTs,
        Func<string, Pdu?>? referenced = null)
    {
        var json = new JsonObject
        {
            ["type"] = draft.Type,
            ["sender"] = draft.Sender,
            ["content"] = draft.Content.DeepClone(),
            ["depth"] = depth,
            ["origin_server_ts"] = originServerTs,
            ["prev_events"] = References(version, prevEvents, referenced),
            ["auth_events"] = References(version, authEvents, referenced),
        };
        if (roomId is not null)
        {
            json["room_id"] = roomId;
        }

        if (draft.StateKey is not null)
        {
            json["state_key"] = draft.StateKey;
        }

        if (!version.ImplicitRoomCreator)
        {
            // Before v11 events carried the origin server; v11 dropped it from the format.
            json["origin"] = serverName;
        }

        if (draft.Redacts is not null)
        {
            if (version.RedactsInContent)
            {
                ((JsonObject)json["content"]!)["redacts"] = draft.Redacts;
            }
            else
            {
                json["redacts"] = draft.Redacts;
            }
        }

        return json;
    }

    private static JsonArray References(RoomVersion version, IReadOnlyList<string> ids, Func<string, Pdu?>? referenced)
    {
        var array = new JsonArray();
        foreach (var id in ids)
        {
            if (!version.UsesEventIdHashPairs)
            {
                array.Add(id);
                continue;
            }

            // v1/v2: [event_id, {"sha256": content hash of that event}].
            var pdu = referenced?.Invoke(id) ?? throw new InvalidOperationException($"event {id} is needed to reference it in a v{version.Id} room");
            var hashes = pdu.Json.TryGetProperty("hashes", out var h) ? JsonNode.Parse(h.GetRawText())! : new JsonObject();
            array.Add(new JsonArray(id, hashes));
        }

        return array;
    }
}
