using System.Text.Json;
using Homeserver.Rooms;
using Homeserver.Rooms.Relations;
using Npgsql;

namespace Homeserver.Storage.Rooms;

/// <summary>
/// The rows of <c>event_relations</c> and <c>event_search</c> that a batch of events adds (see 0006_rooms.sql),
/// collected while the batch is persisted and added to the batch's NpgsqlBatch (see PersistWrites) with one statement per table.
/// </summary>
internal sealed class EventSideRows
{
    // Events stored before as outliers already have these rows: they are kept. Events the writer just built cannot have
    // any, and are inserted without the conflict check (each ON CONFLICT probes the index before inserting).
    private const string InsertNewRelations = """
        INSERT INTO event_relations (event_nid, room_nid, relates_to_id, rel_type, aggregation_key)
        SELECT n, $1, p, t, k FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS u(n, p, t, k)
        """;

    private const string InsertRelations = InsertNewRelations + " ON CONFLICT (event_nid) DO NOTHING";

    private const string InsertNewSearch = """
        INSERT INTO event_search (event_nid, room_nid, search_key, vector)
        SELECT n, $1, k, to_tsvector('english', t) FROM unnest($2::bigint[], $3::text[], $4::text[]) AS u(n, k, t)
        """;

    private const string InsertSearch = InsertNewSearch + " ON CONFLICT (event_nid) DO NOTHING";

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

    /// <summary>
    /// Adds the inserts of the collected rows to a batch (nothing when there are none). <paramref name="newlyBuilt"/>: every
    /// event was just built here (see <see cref="Homeserver.Rooms.Persistence.PersistBatch.NewlyBuilt"/>).
    /// </summary>
    public void AddTo(NpgsqlBatch batch, long roomNid, bool newlyBuilt)
    {
        if (_relationNids.Count > 0)
        {
            batch.BatchCommands.Add(PersistWrites.Command(newlyBuilt ? InsertNewRelations : InsertRelations, roomNid, _relationNids.ToArray(), _parents.ToArray(), _relTypes.ToArray(), _keys.ToArray()));
        }

        if (_searchNids.Count > 0)
        {
            batch.BatchCommands.Add(PersistWrites.Command(newlyBuilt ? InsertNewSearch : InsertSearch, roomNid, _searchNids.ToArray(), _searchKeys.ToArray(), _texts.ToArray()));
        }
    }

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
