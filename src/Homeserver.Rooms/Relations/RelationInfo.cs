using System.Text.Json;

namespace Homeserver.Rooms.Relations;

/// <summary>The relation types the server aggregates (client-server API, "Forming relationships between events").</summary>
public static class RelationTypes
{
    public const string Replace = "m.replace";
    public const string Annotation = "m.annotation";
    public const string Thread = "m.thread";
    public const string Reference = "m.reference";
}

/// <summary>
/// What <c>content."m.relates_to"</c> of an event says: the parent event and the relation type (and, for
/// annotations, the key). Events without a <c>rel_type</c> (plain replies) relate to nothing.
/// </summary>
public sealed record RelationInfo(string ParentId, string RelType, string? AggregationKey)
{
    /// <summary>The longest rel_type, event ID and annotation key we index (longer ones are ignored, as junk).</summary>
    public const int MaxLength = 500;

    public static RelationInfo? From(Pdu pdu)
    {
        if (pdu.Content.ValueKind != JsonValueKind.Object || !pdu.Content.TryGetProperty("m.relates_to", out var relatesTo)
            || relatesTo.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var relType = Read(relatesTo, "rel_type");
        var parent = Read(relatesTo, "event_id");
        if (relType is null || parent is null || parent == pdu.EventId)
        {
            return null;
        }

        var key = relType == RelationTypes.Annotation ? Read(relatesTo, "key") : null;
        return new RelationInfo(parent, relType, key);
    }

    private static string? Read(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 and <= MaxLength } s && !s.Contains('\0')
            ? s
            : null;
}
