using System.Text.Json;

namespace Homeserver.Rooms.Search;

/// <summary>
/// What of an event the full-text search covers (client-server API, "Server side search"): a message's body, a room's
/// name and its topic, each under the key a search request names.
/// </summary>
public static class SearchableText
{
    private const string MessageType = "m.room.message";
    private const string NameType = "m.room.name";
    private const string TopicType = "m.room.topic";

    /// <summary>The searchable text of <paramref name="pdu"/> and its key, or null when it has none.</summary>
    public static (string Key, string Text)? Of(Pdu pdu) => Of(pdu.Type, pdu.StateKey, pdu.Content);

    public static (string Key, string Text)? Of(string type, string? stateKey, JsonElement content)
    {
        var (key, field) = type switch
        {
            MessageType when stateKey is null => ("content.body", "body"),
            NameType when stateKey == string.Empty => ("content.name", "name"),
            TopicType when stateKey == string.Empty => ("content.topic", "topic"),
            _ => (null, null),
        };
        if (key is null || content.ValueKind != JsonValueKind.Object || !content.TryGetProperty(field!, out var value)
            || value.ValueKind != JsonValueKind.String)
        {
            return null;
        }

        // PostgreSQL refuses NUL characters in text values.
        var text = value.GetString()!.Replace("\0", string.Empty, StringComparison.Ordinal);
        return text.Length == 0 ? null : (key, text);
    }

    /// <summary>Whether events of this type can have searchable text at all (a cheap test before reading content).</summary>
    public static bool MayHave(string type) => type is MessageType or NameType or TopicType;
}
