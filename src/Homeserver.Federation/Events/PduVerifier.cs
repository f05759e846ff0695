using System.Text.Json;
using Homeserver.Core;
using Homeserver.Crypto;
using Homeserver.Federation.Keys;
using Homeserver.Rooms;

namespace Homeserver.Federation.Events;

/// <summary>
/// The first checks on a PDU from another server (server-server API, "Checks performed on receipt of a PDU",
/// steps 1-3): it parses as an event of the room version, it is signed by every server that must sign it, and its
/// content hash matches (if not, the event is replaced by its redacted form, as the spec requires).
/// </summary>
public sealed class PduVerifier(KeyRing keys)
{
    /// <summary>A verified event, or why it was refused.</summary>
    public sealed record Result(Pdu? Event, string? Error);

    public async Task<Result> VerifyAsync(JsonElement json, RoomVersion version, CancellationToken ct)
    {
        if (json.ValueKind != JsonValueKind.Object)
        {
            return new Result(null, "not an object");
        }

        string eventId;
        Pdu pdu;
        try
        {
            eventId = EventHashing.GetEventId(json, version);
            pdu = Pdu.Parse(json, version, eventId);
        }
        catch (Exception e) when (e is InvalidPduException or ArgumentException or FormatException or CanonicalJsonException or KeyNotFoundException)
        {
            return new Result(null, "invalid event: " + e.Message);
        }

        if (version.StrictCanonicalJson && !CanonicalJson.IsValid(json, CanonicalJsonMode.Strict, out var problem))
        {
            return new Result(null, "not canonical JSON: " + problem);
        }

        // Signatures: the sender's server always; in v1/v2 also the server named in the event ID; for restricted
        // joins the server that authorised the join.
        var signers = new HashSet<string>(StringComparer.Ordinal);
        if (MatrixId.ServerOf(pdu.Sender) is { } senderServer)
        {
            signers.Add(senderServer);
        }

        if (version.UsesEventIdHashPairs && MatrixId.ServerOf(eventId) is { } idServer)
        {
            signers.Add(idServer);
        }

        if (pdu.Type == EventTypes.Member && pdu.Membership == Membership.Join && version.RestrictedJoins
            && pdu.Content.TryGetProperty("join_authorised_via_users_server", out var via) && via.ValueKind == JsonValueKind.String
            && MatrixId.ServerOf(via.GetString()!) is { } viaServer)
        {
            signers.Add(viaServer);
        }

        // The signed form of an event is its redacted form: verify that.
        using var redacted = JsonDocument.Parse(Redaction.Redact(json, version));
        var mode = CanonicalJson.ModeFor(version);
        foreach (var server in signers)
        {
            if (!await keys.VerifyJsonAsync(redacted.RootElement, server, KeyValidity.ForEvent(version, pdu.OriginServerTs), ct, mode))
            {
                return new Result(null, $"missing or invalid signature of {server}");
            }
        }

        if (EventHashing.CheckContentHash(json, mode) != ContentHashCheck.Valid)
        {
            // A wrong content hash means the content was altered: keep only what the redaction algorithm keeps.
            var stripped = redacted.RootElement.Clone();
            return new Result(Pdu.Parse(stripped, version, eventId), null);
        }

        return new Result(pdu, null);
    }
}
