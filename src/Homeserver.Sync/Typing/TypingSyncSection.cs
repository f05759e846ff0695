using System.Text.Json;

namespace Homeserver.Sync.Typing;

/// <summary>Adds <c>m.typing</c> to the <c>ephemeral</c> events of joined rooms whose typing list changed since the token.</summary>
public sealed class TypingSyncSection(TypingService typing) : IRoomSyncSection
{
    public const string EventType = "m.typing";

    public Task<IReadOnlyDictionary<string, IRoomSyncContribution>> ComputeAsync(SyncContext context, IReadOnlyCollection<string> roomIds, CancellationToken ct)
    {
        var result = new Dictionary<string, IRoomSyncContribution>(StringComparer.Ordinal);
        if (!context.Filter.Ephemeral.MatchesType(EventType))
        {
            return Task.FromResult<IReadOnlyDictionary<string, IRoomSyncContribution>>(result);
        }

        var rooms = roomIds.Where(context.Filter.Ephemeral.IncludesRoom);
        foreach (var change in typing.GetChanges(rooms, context.FullState ? null : context.Since?.Typing, context.UpTo.Typing))
        {
            result[change.RoomId] = new Contribution(change.UserIds);
        }

        return Task.FromResult<IReadOnlyDictionary<string, IRoomSyncContribution>>(result);
    }

    /// <summary>Writes <c>{"type":"m.typing","content":{"user_ids":[...]}}</c>.</summary>
    public static void WriteEvent(Utf8JsonWriter w, IReadOnlyList<string> userIds, string? roomId = null)
    {
        w.WriteStartObject();
        w.WriteString("type"u8, EventType);
        if (roomId is not null)
        {
            w.WriteString("room_id"u8, roomId);
        }

        w.WritePropertyName("content"u8);
        w.WriteStartObject();
        w.WritePropertyName("user_ids"u8);
        w.WriteStartArray();
        foreach (var user in userIds)
        {
            w.WriteStringValue(user);
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private sealed class Contribution(IReadOnlyList<string> userIds) : IRoomSyncContribution
    {
        public bool HasContent => true;

        public void WriteEphemeralEvents(Utf8JsonWriter writer) => WriteEvent(writer, userIds);

        public void WriteRoomProperties(Utf8JsonWriter writer)
        {
        }
    }
}
