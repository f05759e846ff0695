using System.Text.Json;
using Homeserver.Core;
using Homeserver.Sync.Presence;
using Homeserver.Sync.Receipts;

namespace Homeserver.Sync.Federation;

/// <summary>A parsed <c>m.typing</c> EDU: one user started or stopped typing in one room.</summary>
public sealed record TypingEdu(string RoomId, string UserId, bool Typing);

/// <summary>One user's receipt from an <c>m.receipt</c> EDU. <see cref="ThreadId"/> is null for an unthreaded receipt.</summary>
public sealed record ReceiptEdu(string RoomId, string ReceiptType, string UserId, IReadOnlyList<string> EventIds, long Ts, string? ThreadId);

/// <summary>One user's presence from an <c>m.presence</c> EDU. <see cref="LastActiveAgo"/> is null when the sender left it out.</summary>
public sealed record PresenceEdu(string UserId, string State, string? StatusMsg, long? LastActiveAgo, bool CurrentlyActive);

/// <summary>
/// The wire formats of the ephemeral EDUs (server-server API, "Typing Notifications", "Receipts", "Presence"): building
/// what we send, and parsing what other servers send. Parsing is pure and forgiving per item: a malformed entry is
/// skipped (and counted), never an exception, so that one bad entry costs nothing but itself. Whether an entry is
/// believable (its user belongs to the origin and is in the room) is for the handlers, which know the rooms.
/// </summary>
public static class EphemeralEdus
{
    public const string Typing = "m.typing";
    public const string Receipt = "m.receipt";
    public const string Presence = "m.presence";

    /// <summary>At most this many event IDs of one user's receipt are considered (the spec allows exactly one).</summary>
    public const int MaxReceiptEventIds = 10;

    /// <summary><c>{"room_id", "user_id", "typing"}</c>.</summary>
    public static JsonElement BuildTyping(string roomId, string userId, bool typing) => Build(w =>
    {
        w.WriteStartObject();
        w.WriteString("room_id"u8, roomId);
        w.WriteString("user_id"u8, userId);
        w.WriteBoolean("typing"u8, typing);
        w.WriteEndObject();
    });

    /// <summary><c>{room_id: {receipt_type: {user_id: {"event_ids": [event_id], "data": {"ts", "thread_id"?}}}}}</c>.</summary>
    public static JsonElement BuildReceipt(Receipt receipt) => Build(w =>
    {
        w.WriteStartObject();
        w.WritePropertyName(receipt.RoomId);
        w.WriteStartObject();
        w.WritePropertyName(receipt.ReceiptType);
        w.WriteStartObject();
        w.WritePropertyName(receipt.UserId);
        w.WriteStartObject();
        w.WritePropertyName("event_ids"u8);
        w.WriteStartArray();
        w.WriteStringValue(receipt.EventId);
        w.WriteEndArray();
        w.WritePropertyName("data"u8);
        receipt.WriteData(w);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    });

    /// <summary>
    /// <c>{"push": [{"user_id", "presence", "last_active_ago", "status_msg"?, "currently_active"?}]}</c>: as Synapse
    /// formats it, except that <c>last_active_ago</c>, which the spec requires, is always there.
    /// </summary>
    public static JsonElement BuildPresence(IEnumerable<UserPresence> states, long now) => Build(w =>
    {
        w.WriteStartObject();
        w.WritePropertyName("push"u8);
        w.WriteStartArray();
        foreach (var p in states)
        {
            w.WriteStartObject();
            w.WriteString("user_id"u8, p.UserId);
            w.WriteString("presence"u8, p.State);
            w.WriteNumber("last_active_ago"u8, Math.Max(0, now - p.LastActiveTs));
            if (!string.IsNullOrEmpty(p.StatusMsg))
            {
                w.WriteString("status_msg"u8, p.StatusMsg);
            }

            if (p.State == PresenceStates.Online)
            {
                w.WriteBoolean("currently_active"u8, p.CurrentlyActive);
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    });

    /// <summary>The content of an <c>m.typing</c> EDU, or null when it is not one.</summary>
    public static TypingEdu? ParseTyping(JsonElement content)
    {
        if (content.ValueKind != JsonValueKind.Object
            || String(content, "room_id") is not { } roomId || !MatrixId.IsValidRoomId(roomId)
            || String(content, "user_id") is not { } userId || !MatrixId.IsValidUserId(userId)
            || !content.TryGetProperty("typing", out var typing) || typing.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            return null;
        }

        return new TypingEdu(roomId, userId, typing.GetBoolean());
    }

    /// <summary>
    /// The receipts of an <c>m.receipt</c> EDU, of every receipt type (the handler keeps the ones it knows). An entry
    /// needs a valid room ID, user ID, at least one valid event ID and an integer <c>data.ts</c>; a <c>thread_id</c>
    /// that is not a non-empty string is treated as absent, as Synapse does.
    /// </summary>
    public static IReadOnlyList<ReceiptEdu> ParseReceipts(JsonElement content, out int skipped)
    {
        skipped = 0;
        var result = new List<ReceiptEdu>();
        if (content.ValueKind != JsonValueKind.Object)
        {
            skipped++;
            return result;
        }

        foreach (var room in content.EnumerateObject())
        {
            if (!MatrixId.IsValidRoomId(room.Name) || room.Value.ValueKind != JsonValueKind.Object)
            {
                skipped++;
                continue;
            }

            foreach (var type in room.Value.EnumerateObject())
            {
                if (type.Name.Length == 0 || type.Value.ValueKind != JsonValueKind.Object)
                {
                    skipped++;
                    continue;
                }

                foreach (var user in type.Value.EnumerateObject())
                {
                    if (ParseUserReceipt(room.Name, type.Name, user) is { } receipt)
                    {
                        result.Add(receipt);
                    }
                    else
                    {
                        skipped++;
                    }
                }
            }
        }

        return result;
    }

    /// <summary>
    /// The updates of an <c>m.presence</c> EDU. An entry needs a valid user ID and a known <c>presence</c>; a
    /// <c>last_active_ago</c>, when present, must be a non-negative integer; a <c>status_msg</c> that is not a string
    /// and a <c>currently_active</c> that is not a boolean count as absent.
    /// </summary>
    public static IReadOnlyList<PresenceEdu> ParsePresence(JsonElement content, out int skipped)
    {
        skipped = 0;
        var result = new List<PresenceEdu>();
        if (content.ValueKind != JsonValueKind.Object || !content.TryGetProperty("push", out var push) || push.ValueKind != JsonValueKind.Array)
        {
            skipped++;
            return result;
        }

        foreach (var item in push.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object
                || String(item, "user_id") is not { } userId || !MatrixId.IsValidUserId(userId)
                || String(item, "presence") is not { } state || !PresenceStates.IsValid(state))
            {
                skipped++;
                continue;
            }

            long? ago = null;
            if (item.TryGetProperty("last_active_ago", out var agoElement) && agoElement.ValueKind != JsonValueKind.Null)
            {
                if (agoElement.ValueKind != JsonValueKind.Number || !agoElement.TryGetInt64(out var value) || value < 0)
                {
                    skipped++;
                    continue;
                }

                ago = value;
            }

            var active = item.TryGetProperty("currently_active", out var a) && a.ValueKind == JsonValueKind.True;
            result.Add(new PresenceEdu(userId, state, String(item, "status_msg"), ago, active));
        }

        return result;
    }

    private static ReceiptEdu? ParseUserReceipt(string roomId, string receiptType, JsonProperty user)
    {
        if (!MatrixId.IsValidUserId(user.Name) || user.Value.ValueKind != JsonValueKind.Object
            || !user.Value.TryGetProperty("event_ids", out var ids) || ids.ValueKind != JsonValueKind.Array
            || !user.Value.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Object
            || !data.TryGetProperty("ts", out var tsElement) || tsElement.ValueKind != JsonValueKind.Number || !tsElement.TryGetInt64(out var ts))
        {
            return null;
        }

        var eventIds = new List<string>();
        foreach (var id in ids.EnumerateArray())
        {
            if (eventIds.Count < MaxReceiptEventIds && id.ValueKind == JsonValueKind.String && id.GetString() is { } eventId && MatrixId.IsValidEventId(eventId))
            {
                eventIds.Add(eventId);
            }
        }

        if (eventIds.Count == 0)
        {
            return null;
        }

        var threadId = String(data, "thread_id") is { Length: > 0 } t ? t : null;
        return new ReceiptEdu(roomId, receiptType, user.Name, eventIds, ts, threadId);
    }

    private static string? String(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static JsonElement Build(Action<Utf8JsonWriter> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }
}
