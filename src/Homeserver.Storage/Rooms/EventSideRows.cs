using System.Text.Json;
using Homeserver.Rooms;
using Homeserver.Rooms.Relations;
using Npgsql;

namespace Homeserver.Storage.Rooms;

/// <summary>
/// The rows of <c>event_relations</c> and <c>event_search</c> that a batch of events adds (see 0005_rooms.sql),
/// collected while the batch is persisted and written with the batch's other rows (see PersistWrites).
/// </summary>
internal sealed class EventSideRows
{
    private readonly List<long> _relationNids = [];
    private readonly List<string> _parents = [];
    private readonly List<string> _relTypes = [];
    private readonly List<string?> _keys = [];
    private readonly List<long> _searchNids = [];
    private readonly List<string> _searchKeys = [];
    private readonly List<string> _texts = [];

    /// <summary>Takes what an accepted event contributes (nothing for most state events).</summary>
    public void Add(long eventNid, Pdu pdu)
    {
        if (RelationInfo.From(pdu) is { } relation)
        {
            _relationNids.Add(eventNid);
            _parents.Add(relation.ParentId);
            _relTypes.Add(relation.RelType);
            _keys.Add(relation.AggregationKey);
        }

        if (SearchText(pdu) is { } found)
        {
            _searchNids.Add(eventNid);
            _searchKeys.Add(found.Key);
            _texts.Add(found.Text);
        }
    }

    /// <summary>The collected rows as the arrays <see cref="PersistWrites"/> inserts (empty when there are none).</summary>
    public (long[] RelationNids, string[] Parents, string[] RelTypes, string?[] Keys, long[] SearchNids, string[] SearchKeys, string[] Texts) Arrays() =>
        (_relationNids.ToArray(), _parents.ToArray(), _relTypes.ToArray(), _keys.ToArray(), _searchNids.ToArray(), _searchKeys.ToArray(), _texts.ToArray());

    /// <summary>The searchable text of an event (client-server API, "Server side search": body, name and topic).</summary>
    internal static (string Key, string Text)? SearchText(Pdu pdu)
    {
        var (key, field) = pdu.Type switch
        {
            "m.room.message" when pdu.StateKey is null => ("content.body", "body"),
            "m.room.name" when pdu.StateKey == string.Empty => ("content.name", "name"),
            "m.room.topic" when pdu.StateKey == string.Empty => ("content.topic", "topic"),
            _ => (null, null),
        };
        if (key is null || pdu.Content.ValueKind != JsonValueKind.Object || !pdu.Content.TryGetProperty(field!, out var value)
            || value.ValueKind != JsonValueKind.String)
        {
            return null;
        }

        var text = value.GetString()!;

        // PostgreSQL refuses NUL characters in text values.
        text = text.Replace("\0", string.Empty, StringComparison.Ordinal);
        return text.Length == 0 ? null : (key, text);
    }
}
