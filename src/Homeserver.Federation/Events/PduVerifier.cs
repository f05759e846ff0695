using System.Text.Json;
using Homeserver.Core;
using Homeserver.Crypto;
using Homeserver.Federation.Keys;
using Homeserver.Rooms;

namespace Homeserver.Federation.Events;

/// <summary>
/// The first checks on a PDU from another server (server-server API, "Checks performed on receipt of a PDU",
/// steps 1-3): it is signed by every server that must sign it, it parses as an event of the room version, and its
/// content hash matches (if not, the event is replaced by its redacted form, as the spec requires). Signatures are
/// checked before the rest of the event's shape, as Synapse does, so that an unsigned event is refused as unsigned
/// (<see cref="Result.BadSignature"/>: the membership endpoints answer 403 for it) whatever else is wrong with it.
/// </summary>
public sealed class PduVerifier(KeyRing keys)
{
    /// <summary>A verified event, or why it was refused; <paramref name="BadSignature"/> when a signature is missing or wrong.</summary>
    public sealed record Result(Pdu? Event, string? Error, bool BadSignature = false);

    public async Task<Result> VerifyAsync(JsonElement json, RoomVersion version, CancellationToken ct)
    {
        if (json.ValueKind != JsonValueKind.Object)
        {
            return new Result(null, "not an object");
        }

        string eventId;
        byte[] redactedBytes;
        try
        {
            eventId = EventHashing.GetEventId(json, version);
            redactedBytes = Redaction.Redact(json, version);
        }
        catch (Exception e) when (e is InvalidPduException or ArgumentException or FormatException or CanonicalJsonException or KeyNotFoundException or InvalidOperationException)
        {
            return new Result(null, "invalid event: " + e.Message);
        }

        if (version.StrictCanonicalJson && !CanonicalJson.IsValid(json, CanonicalJsonMode.Strict, out var problem))
        {
            return new Result(null, "not canonical JSON: " + problem);
        }

        if (StringOf(json, "sender") is not { } sender)
        {
            return new Result(null, "invalid event: sender must be a string");
        }

        // Signatures: the sender's server always; in v1/v2 also the server named in the event ID; for restricted
        // joins the server that authorised the join. The signed form of an event is its redacted form: verify that.
        var signers = Signers(json, sender, eventId, version);
        var originServerTs = json.TryGetProperty("origin_server_ts", out var ts) && ts.TryGetInt64(out var t) ? t : 0;
        using var redacted = JsonDocument.Parse(redactedBytes);
        var mode = CanonicalJson.ModeFor(version);
        foreach (var server in signers)
        {
            if (!await keys.VerifyJsonAsync(redacted.RootElement, server, KeyValidity.ForEvent(version, originServerTs), ct, mode))
            {
                return new Result(null, $"missing or invalid signature of {server}", BadSignature: true);
            }
        }

        Pdu pdu;
        try
        {
            pdu = Pdu.Parse(json, version, eventId);
        }
        catch (Exception e) when (e is InvalidPduException or ArgumentException or FormatException or CanonicalJsonException or KeyNotFoundException)
        {
            return new Result(null, "invalid event: " + e.Message);
        }

        if (EventHashing.CheckContentHash(json, mode) != ContentHashCheck.Valid)
        {
            // A wrong content hash means the content was altered: keep only what the redaction algorithm keeps.
            var stripped = redacted.RootElement.Clone();
            return new Result(Pdu.Parse(stripped, version, eventId), null);
        }

        return new Result(pdu, null);
    }

    private static HashSet<string> Signers(JsonElement json, string sender, string eventId, RoomVersion version)
    {
        var signers = new HashSet<string>(StringComparer.Ordinal);
        if (MatrixId.ServerOf(sender) is { } senderServer)
        {
            signers.Add(senderServer);
        }

        if (version.UsesEventIdHashPairs && MatrixId.ServerOf(eventId) is { } idServer)
        {
            signers.Add(idServer);
        }

        if (StringOf(json, "type") == EventTypes.Member && version.RestrictedJoins
            && json.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Object
            && StringOf(content, "membership") == Membership.Join
            && StringOf(content, "join_authorised_via_users_server") is { } via && MatrixId.ServerOf(via) is { } viaServer)
        {
            signers.Add(viaServer);
        }

        return signers;
    }

    private static string? StringOf(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
