using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Users;

/// <summary>
/// Checks a filter against the spec's filter schema (<c>definitions/sync_filter.yaml</c>, <c>event_filter.yaml</c>,
/// <c>room_event_filter.yaml</c>): a field of the wrong JSON type is <c>M_BAD_JSON</c>; a value of the right type that
/// the schema does not allow (an invalid user or room ID, an unknown <c>event_format</c>, a negative limit) is
/// <c>M_INVALID_PARAM</c>. Unknown fields are allowed, as in Synapse, for forward compatibility. Pure: no I/O.
/// </summary>
public static class FilterValidator
{
    public static void Validate(JsonElement filter)
    {
        RequireObject(filter, "filter");
        if (Get(filter, "event_fields") is { } fields)
        {
            StringArray(fields, "event_fields");
        }

        if (Get(filter, "event_format") is { } format)
        {
            var value = RequireString(format, "event_format");
            if (value is not ("client" or "federation"))
            {
                throw MatrixException.InvalidParam("'event_format' must be 'client' or 'federation'");
            }
        }

        if (Get(filter, "presence") is { } presence)
        {
            EventFilter(presence, "presence");
        }

        if (Get(filter, "account_data") is { } accountData)
        {
            EventFilter(accountData, "account_data");
        }

        if (Get(filter, "room") is { } room)
        {
            RoomFilter(room);
        }
    }

    private static void RoomFilter(JsonElement room)
    {
        RequireObject(room, "room");
        if (Get(room, "rooms") is { } rooms)
        {
            RoomIdArray(rooms, "room.rooms");
        }

        if (Get(room, "not_rooms") is { } notRooms)
        {
            RoomIdArray(notRooms, "room.not_rooms");
        }

        if (Get(room, "include_leave") is { } includeLeave)
        {
            RequireBool(includeLeave, "room.include_leave");
        }

        foreach (var part in (string[])["ephemeral", "state", "timeline", "account_data"])
        {
            if (Get(room, part) is { } value)
            {
                RoomEventFilter(value, "room." + part);
            }
        }
    }

    private static void RoomEventFilter(JsonElement filter, string path)
    {
        EventFilter(filter, path);
        if (Get(filter, "rooms") is { } rooms)
        {
            RoomIdArray(rooms, path + ".rooms");
        }

        if (Get(filter, "not_rooms") is { } notRooms)
        {
            RoomIdArray(notRooms, path + ".not_rooms");
        }

        foreach (var flag in (string[])["contains_url", "lazy_load_members", "include_redundant_members", "unread_thread_notifications"])
        {
            if (Get(filter, flag) is { } value)
            {
                RequireBool(value, $"{path}.{flag}");
            }
        }

        foreach (var list in (string[])["related_by_rel_types", "related_by_senders"])
        {
            if (Get(filter, list) is { } value)
            {
                StringArray(value, $"{path}.{list}");
            }
        }
    }

    private static void EventFilter(JsonElement filter, string path)
    {
        RequireObject(filter, path);
        if (Get(filter, "limit") is { } limit)
        {
            if (limit.ValueKind != JsonValueKind.Number)
            {
                throw MatrixException.BadJson($"'{path}.limit' must be an integer");
            }

            // The spec asks for an integer greater than 0; 0 is accepted as Synapse does (some bots use it).
            if (!limit.TryGetInt64(out var n) || n < 0)
            {
                throw MatrixException.InvalidParam($"'{path}.limit' must be a non-negative integer");
            }
        }

        foreach (var list in (string[])["types", "not_types"])
        {
            if (Get(filter, list) is { } value)
            {
                StringArray(value, $"{path}.{list}");
            }
        }

        foreach (var list in (string[])["senders", "not_senders"])
        {
            if (Get(filter, list) is { } value)
            {
                foreach (var sender in StringArray(value, $"{path}.{list}"))
                {
                    if (!MatrixId.IsValidUserId(sender))
                    {
                        throw MatrixException.InvalidParam($"'{sender}' in '{path}.{list}' is not a valid user ID");
                    }
                }
            }
        }
    }

    private static void RoomIdArray(JsonElement value, string path)
    {
        foreach (var roomId in StringArray(value, path))
        {
            if (!MatrixId.IsValidRoomId(roomId))
            {
                throw MatrixException.InvalidParam($"'{roomId}' in '{path}' is not a valid room ID");
            }
        }
    }

    private static List<string> StringArray(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw MatrixException.BadJson($"'{path}' must be an array of strings");
        }

        var result = new List<string>();
        foreach (var item in value.EnumerateArray())
        {
            result.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw MatrixException.BadJson($"'{path}' must be an array of strings"));
        }

        return result;
    }

    private static void RequireObject(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson($"'{path}' must be an object");
        }
    }

    private static void RequireBool(JsonElement value, string path)
    {
        if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            throw MatrixException.BadJson($"'{path}' must be a boolean");
        }
    }

    private static string RequireString(JsonElement value, string path) =>
        value.ValueKind == JsonValueKind.String ? value.GetString()! : throw MatrixException.BadJson($"'{path}' must be a string");

    private static JsonElement? Get(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) ? v : null;
}
