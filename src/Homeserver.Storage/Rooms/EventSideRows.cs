using Homeserver.Rooms;
using Homeserver.Rooms.Relations;
using Homeserver.Rooms.Search;
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

    /// <summary>
    /// Takes what an accepted event contributes (nothing for most state events); its search row only when
    /// <paramref name="withSearch"/> (a local writer's batch leaves it to the search indexer, see PersistBatch.DeferSearch).
    /// </summary>
    public void Add(long eventNid, Pdu pdu, bool withSearch)
    {
        if (RelationInfo.From(pdu) is { } relation)
        {
            _relationNids.Add(eventNid);
            _parents.Add(relation.ParentId);
            _relTypes.Add(relation.RelType);
            _keys.Add(relation.AggregationKey);
        }

        if (withSearch && SearchableText.Of(pdu) is { } found)
        {
            _searchNids.Add(eventNid);
            _searchKeys.Add(found.Key);
            _texts.Add(found.Text);
        }
    }

    /// <summary>The collected rows as the arrays <see cref="PersistWrites"/> inserts (empty when there are none).</summary>
    public (long[] RelationNids, string[] Parents, string[] RelTypes, string?[] Keys, long[] SearchNids, string[] SearchKeys, string[] Texts) Arrays() =>
        (_relationNids.ToArray(), _parents.ToArray(), _relTypes.ToArray(), _keys.ToArray(), _searchNids.ToArray(), _searchKeys.ToArray(), _texts.ToArray());
}
