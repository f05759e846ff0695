using System.Security.Cryptography;
using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Crypto;

/// <summary>The outcome of checking an event's content hash.</summary>
public enum ContentHashCheck
{
    /// <summary><c>hashes.sha256</c> matches the event.</summary>
    Valid = 0,

    /// <summary>No <c>hashes.sha256</c> string.</summary>
    Missing,

    /// <summary><c>hashes.sha256</c> is not Base64 or not 32 bytes.</summary>
    Malformed,

    /// <summary>The event has no canonical encoding in the requested mode.</summary>
    InvalidJson,

    /// <summary>Well-formed but different: the event was changed, or we were given a redacted copy.</summary>
    Mismatch,
}

/// <summary>
/// Content hashes, reference hashes, event IDs and (v12) room IDs.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#calculating-the-content-hash-for-an-event,
/// https://spec.matrix.org/v1.19/server-server-api/#calculating-the-reference-hash-for-an-event,
/// https://spec.matrix.org/v1.19/rooms/v3/#event-ids, https://spec.matrix.org/v1.19/rooms/v4/#event-ids,
/// https://spec.matrix.org/v1.19/appendices/#room-ids (v12: the create event's ID with <c>!</c>).
/// </summary>
public static class EventHashing
{
    /// <summary>What the content hash covers: everything but <c>unsigned</c>, <c>signatures</c> and <c>hashes</c>.</summary>
    private static readonly KeyFilter ContentHashed = KeyFilter.Except("unsigned", "signatures", "hashes");

    private const string EventIdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>SHA-256 (32 bytes) of the canonical event without <c>unsigned</c>, <c>signatures</c> and <c>hashes</c>.</summary>
    public static byte[] ComputeContentHash(JsonElement ev, CanonicalJsonMode mode = CanonicalJsonMode.Strict)
    {
        RequireObject(ev);
        using var writer = new CanonicalJsonWriter(mode);
        writer.WriteObject(ev, ContentHashed);
        return SHA256.HashData(writer.WrittenSpan);
    }

    /// <inheritdoc cref="ComputeContentHash(JsonElement, CanonicalJsonMode)"/>
    public static byte[] ComputeContentHash(JsonElement ev, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        return ComputeContentHash(ev, CanonicalJson.ModeFor(version));
    }

    /// <summary>
    /// The event as canonical JSON with <c>hashes</c> set to <c>{"sha256": &lt;content hash&gt;}</c> (replacing any
    /// previous <c>hashes</c>, as the spec's example code does).
    /// </summary>
    public static byte[] AddContentHash(JsonElement ev, CanonicalJsonMode mode = CanonicalJsonMode.Strict)
    {
        var hash = ComputeContentHash(ev, mode);
        using var writer = new CanonicalJsonWriter(mode);
        writer.WriteStartObject();
        writer.WritePropertyName("sha256"u8);
        writer.WriteStringValue(UnpaddedBase64.Encode(hash));
        writer.WriteEndObject();
        var hashes = writer.ToArray();
        writer.Reset();
        writer.WriteObject(ev, KeyFilter.All, "hashes"u8, hashes, hasOverride: true);
        return writer.ToArray();
    }

    /// <summary>Compares <c>hashes.sha256</c> with the content hash of the event as received.</summary>
    public static ContentHashCheck CheckContentHash(JsonElement ev, CanonicalJsonMode mode = CanonicalJsonMode.Strict)
    {
        if (ev.ValueKind != JsonValueKind.Object
            || !ev.TryGetProperty("hashes"u8, out var hashes) || hashes.ValueKind != JsonValueKind.Object
            || !hashes.TryGetProperty("sha256"u8, out var sha256) || sha256.ValueKind != JsonValueKind.String)
        {
            return ContentHashCheck.Missing;
        }

        Span<byte> expected = stackalloc byte[SHA256.HashSizeInBytes];
        if (!UnpaddedBase64.TryDecodeJsonString(sha256, expected, out var written) || written != SHA256.HashSizeInBytes)
        {
            return ContentHashCheck.Malformed;
        }

        byte[] actual;
        try
        {
            actual = ComputeContentHash(ev, mode);
        }
        catch (CanonicalJsonException)
        {
            return ContentHashCheck.InvalidJson;
        }

        return actual.AsSpan().SequenceEqual(expected) ? ContentHashCheck.Valid : ContentHashCheck.Mismatch;
    }

    /// <summary>
    /// SHA-256 (32 bytes) of the canonical redacted event without <c>signatures</c> and <c>unsigned</c>
    /// (redaction per <paramref name="version"/>; <c>hashes</c> is kept, so the reference hash covers the content hash).
    /// </summary>
    public static byte[] ComputeReferenceHash(JsonElement ev, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        using var writer = new CanonicalJsonWriter(CanonicalJson.ModeFor(version));
        Redaction.Write(writer, ev, version.Redaction, JsonSigning.SignedPart);
        return SHA256.HashData(writer.WrittenSpan);
    }

    /// <summary>
    /// The event ID derived from the reference hash: <c>$</c> + unpadded Base64 (v3) or URL-safe unpadded Base64 (v4+).
    /// </summary>
    /// <exception cref="ArgumentException">Room versions 1 and 2 carry their event IDs in the event: use <see cref="GetEventId"/>.</exception>
    public static string ComputeEventId(JsonElement ev, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        if (version.EventIdFormat == EventIdFormat.ServerGenerated)
        {
            throw new ArgumentException($"Room version {version.Id} does not derive event IDs from hashes; they are carried in \"event_id\".", nameof(version));
        }

        return EventIdFromReferenceHash(ComputeReferenceHash(ev, version), version.EventIdFormat);
    }

    /// <summary>
    /// The ID of <paramref name="ev"/> in any room version: computed from the reference hash from v3, read from the
    /// event's <c>event_id</c> in v1 and v2.
    /// </summary>
    /// <exception cref="FormatException">A v1/v2 event without a string <c>event_id</c>.</exception>
    public static string GetEventId(JsonElement ev, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        if (version.EventIdFormat != EventIdFormat.ServerGenerated)
        {
            return ComputeEventId(ev, version);
        }

        return ev.ValueKind == JsonValueKind.Object && ev.TryGetProperty("event_id"u8, out var id) && id.ValueKind == JsonValueKind.String
            ? id.GetString()!
            : throw new FormatException($"Events in room version {version.Id} must carry a string \"event_id\".");
    }

    /// <summary><c>$</c> + the hash in the encoding of <paramref name="format"/>.</summary>
    public static string EventIdFromReferenceHash(ReadOnlySpan<byte> referenceHash, EventIdFormat format) => format switch
    {
        EventIdFormat.ReferenceHashBase64 => "$" + UnpaddedBase64.Encode(referenceHash),
        EventIdFormat.ReferenceHashUrlSafe => "$" + UnpaddedBase64.EncodeUrlSafe(referenceHash),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "This format does not derive event IDs from hashes."),
    };

    /// <summary>
    /// Room version 12 and later: the room ID of the room that <paramref name="createEvent"/> creates, which is its
    /// event ID with <c>!</c> instead of <c>$</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The room version has server-chosen room IDs.</exception>
    public static string ComputeRoomId(JsonElement createEvent, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        if (!version.RoomIdIsCreateEventHash)
        {
            throw new ArgumentException($"Room version {version.Id} does not derive room IDs from the create event.", nameof(version));
        }

        return "!" + ComputeEventId(createEvent, version)[1..];
    }

    /// <summary>
    /// A fresh <c>$&lt;24 random alphanumerics&gt;:&lt;server&gt;</c> event ID for room versions 1 and 2, where the
    /// origin chooses the ID (https://spec.matrix.org/v1.19/rooms/v1/#event-ids). 24 characters of 62 give 142 bits.
    /// </summary>
    /// <exception cref="ArgumentException">Not a valid server name, or the ID would exceed 255 bytes.</exception>
    public static string GenerateServerEventId(string serverName)
    {
        ArgumentNullException.ThrowIfNull(serverName);
        if (!ServerName.IsValid(serverName))
        {
            throw new ArgumentException("Not a valid server name.", nameof(serverName));
        }

        var id = "$" + RandomNumberGenerator.GetString(EventIdAlphabet, 24) + ":" + serverName;
        return id.Length <= 255 ? id : throw new ArgumentException("The server name is too long for a 255-byte event ID.", nameof(serverName));
    }

    private static void RequireObject(JsonElement ev)
    {
        if (ev.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("An event is a JSON object.", nameof(ev));
        }
    }
}
