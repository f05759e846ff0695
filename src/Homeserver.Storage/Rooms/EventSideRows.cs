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

    // Per thread, its latest reply in the batch: (event number, depth, stream). Made for the first thread reply: most
    // batches (a room's messages) have none.
    private Dictionary<string, (long Nid, long Topological, long Stream)>? _threadReplies;

    // The (thread, sender) of each thread reply in the timeline (0020_thread_participants.sql), made with the first.
    private HashSet<(string ThreadId, string Sender)>? _threadParticipants;

    /// <summary>
    /// Takes what an accepted event contributes (nothing for most state events); its search row only when
    /// <paramref name="withSearch"/> (a local writer's batch leaves it to the search indexer, see PersistBatch.DeferSearch).
    /// A thread reply moves its thread's latest reply (0018_threads.sql) only when <paramref name="timeline"/> gives its
    /// place in the timeline (depth, stream): not for an outlier or a soft-failed event. Its sender then takes part in
    /// the thread (0020_thread_participants.sql).
    /// </summary>
    public void Add(long eventNid, Pdu pdu, bool withSearch, (long Topological, long Stream)? timeline)
    {
        if (RelationInfo.From(pdu) is { } relation)
        {
            _relationNids.Add(eventNid);
            _parents.Add(relation.ParentId);
            _relTypes.Add(relation.RelType);
            _keys.Add(relation.AggregationKey);
            if (relation.RelType == RelationTypes.Thread && timeline is { } at)
            {
                _threadReplies ??= new(StringComparer.Ordinal);
                if (!_threadReplies.TryGetValue(relation.ParentId, out var latest) || (at.Topological, at.Stream).CompareTo((latest.Topological, latest.Stream)) > 0)
                {
                    _threadReplies[relation.ParentId] = (eventNid, at.Topological, at.Stream);
                }

                (_threadParticipants ??= []).Add((relation.ParentId, pdu.Sender));
            }
        }

        if (withSearch && SearchableText.Of(pdu) is { } found)
        {
            _searchNids.Add(eventNid);
            _searchKeys.Add(found.Key);
            _texts.Add(found.Text);
        }
    }

    /// <summary>The collected rows as the arrays <see cref="PersistWrites"/> inserts (empty when there are none).</summary>
    public SideRowArrays Arrays()
    {
        string[] threadIds = [];
        long[] latestNids = [], topologicals = [], streams = [];
        string[] participantThreads = [], participants = [];
        if (_threadReplies is { } threads)
        {
            threadIds = [.. threads.Keys];
            latestNids = [.. threads.Values.Select(t => t.Nid)];
            topologicals = [.. threads.Values.Select(t => t.Topological)];
            streams = [.. threads.Values.Select(t => t.Stream)];
            participantThreads = [.. _threadParticipants!.Select(p => p.ThreadId)];
            participants = [.. _threadParticipants!.Select(p => p.Sender)];
        }

        return new(
            [.. _relationNids], [.. _parents], [.. _relTypes], [.. _keys],
            [.. _searchNids], [.. _searchKeys], [.. _texts],
            threadIds, latestNids, topologicals, streams, participantThreads, participants);
    }
}

/// <summary>The rows of <see cref="EventSideRows"/>, a column per array.</summary>
internal sealed record SideRowArrays(
    long[] RelationNids, string[] Parents, string[] RelTypes, string?[] Keys,
    long[] SearchNids, string[] SearchKeys, string[] Texts,
    string[] ThreadIds, long[] ThreadLatestNids, long[] ThreadTopologicals, long[] ThreadStreams,
    string[] ParticipantThreadIds, string[] Participants);
