using System.Text.Json;
using Homeserver.Sync.Rooms;

namespace Homeserver.Sync;

/// <summary>Writes the parts of a <c>/sync</c> answer (client-server API, "Syncing", the 200 response).</summary>
internal static class SyncResponseWriter
{
    public static void WriteRoom(Utf8JsonWriter w, RoomResult room, EventWriter events, bool joinedRoom, List<IRoomSyncContribution>? extra)
    {
        w.WriteStartObject();
        w.WritePropertyName("timeline"u8);
        w.WriteStartObject();
        w.WritePropertyName("events"u8);
        w.WriteStartArray();
        foreach (var e in room.Timeline)
        {
            events.Write(w, e);
        }

        w.WriteEndArray();
        w.WriteBoolean("limited"u8, room.Limited);
        w.WriteString("prev_batch"u8, room.PrevBatch);
        w.WriteEndObject();

        w.WritePropertyName("state"u8);
        w.WriteStartObject();
        w.WritePropertyName("events"u8);
        w.WriteStartArray();
        foreach (var e in room.State)
        {
            events.Write(w, e);
        }

        w.WriteEndArray();
        w.WriteEndObject();

        w.WritePropertyName("account_data"u8);
        WriteAccountData(w, room.AccountData);

        if (joinedRoom)
        {
            w.WritePropertyName("ephemeral"u8);
            w.WriteStartObject();
            w.WritePropertyName("events"u8);
            w.WriteStartArray();
            foreach (var contribution in extra ?? [])
            {
                contribution.WriteEphemeralEvents(w);
            }

            w.WriteEndArray();
            w.WriteEndObject();
            foreach (var contribution in extra ?? [])
            {
                contribution.WriteRoomProperties(w);
            }

            w.WritePropertyName("summary"u8);
            w.WriteStartObject();
            if (room.Summary is { } summary)
            {
                if (summary.Heroes is { } heroes)
                {
                    w.WritePropertyName("m.heroes"u8);
                    w.WriteStartArray();
                    foreach (var h in heroes)
                    {
                        w.WriteStringValue(h);
                    }

                    w.WriteEndArray();
                }

                w.WriteNumber("m.joined_member_count"u8, summary.Joined);
                w.WriteNumber("m.invited_member_count"u8, summary.Invited);
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    /// <summary>An invited or knocked room: <c>{"invite_state"|"knock_state": {"events": [...]}}</c>.</summary>
    public static void WriteStrippedRoom(Utf8JsonWriter w, string roomId, ReadOnlySpan<byte> sectionName, List<JsonElement> stripped)
    {
        w.WritePropertyName(roomId);
        w.WriteStartObject();
        w.WritePropertyName(sectionName);
        w.WriteStartObject();
        w.WritePropertyName("events"u8);
        w.WriteStartArray();
        foreach (var e in stripped)
        {
            e.WriteTo(w);
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static void WriteAccountData(Utf8JsonWriter w, IReadOnlyList<AccountDataEntry> entries)
    {
        w.WriteStartObject();
        w.WritePropertyName("events"u8);
        w.WriteStartArray();
        foreach (var entry in entries)
        {
            WriteAccountDataEvent(w, entry);
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    public static void WriteAccountDataEvent(Utf8JsonWriter w, AccountDataEntry entry)
    {
        w.WriteStartObject();
        w.WriteString("type"u8, entry.Type);
        w.WritePropertyName("content"u8);
        w.WriteRawValue(entry.Content, skipInputValidation: true);
        w.WriteEndObject();
    }
}
