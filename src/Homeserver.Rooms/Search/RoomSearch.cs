using System.Globalization;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;

namespace Homeserver.Rooms.Search;

/// <summary>The room_events category of a POST /search request.</summary>
public sealed record SearchRequest(
    string Term,
    IReadOnlyList<string> Keys,
    RoomEventFilter Filter,
    bool OrderByRank,
    int? BeforeLimit,
    int? AfterLimit,
    bool IncludeProfile,
    bool IncludeState,
    string? NextBatch);

/// <summary>One result with its context (when asked for).</summary>
public sealed record SearchResultItem(
    StoredEvent Event,
    double Rank,
    IReadOnlyList<StoredEvent>? Before,
    IReadOnlyList<StoredEvent>? After,
    PaginationToken? Start,
    PaginationToken? End,
    IReadOnlyDictionary<string, MemberProfile>? Profiles);

public sealed record SearchOutcome(
    int Count,
    IReadOnlyList<SearchResultItem> Results,
    IReadOnlyList<string> Highlights,
    string? NextBatch,
    IReadOnlyDictionary<string, IReadOnlyList<StoredEvent>> State);

/// <summary>
/// Server-side search (client-server API, "Server Side Search"): full-text search over the rooms the user is in or
/// was in (up to when they left), each result checked against history visibility and the ignored-users list, with
/// optional context, profiles and room state. Pages: <c>s&lt;stream&gt;</c> tokens for <c>recent</c>, offsets for <c>rank</c>.
/// </summary>
public sealed class RoomSearch(ISearchStore store, SearchIndexer indexer, StreamPositions streams, IRoomReadStore reads, RoomService rooms, RoomReader reader, EventLookup lookup)
{
    /// <summary>How long a search waits for the rows of events sent just before it (written after them, by the indexer).</summary>
    private static readonly TimeSpan IndexWait = TimeSpan.FromSeconds(5);

    public const int DefaultLimit = 10;

    public const int MaxLimit = 100;

    public const int DefaultContextLimit = 5;

    public static readonly string[] AllKeys = ["content.body", "content.name", "content.topic"];

    public async Task<SearchOutcome> SearchAsync(string userId, SearchRequest request, CancellationToken ct)
    {
        foreach (var key in request.Keys)
        {
            if (!AllKeys.Contains(key))
            {
                throw MatrixException.InvalidParam($"Unknown search key {key}");
            }
        }

        long? beforeStream = null;
        var offset = 0;
        if (request.NextBatch is { } token)
        {
            var ok = request.OrderByRank
                ? token.StartsWith('o') && int.TryParse(token.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out offset)
                : token.StartsWith('s') && long.TryParse(token.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var s) && (beforeStream = s) is not null;
            if (!ok)
            {
                throw MatrixException.InvalidParam("Invalid next_batch token");
            }
        }

        var limit = Math.Clamp(request.Filter.Limit ?? DefaultLimit, 1, MaxLimit);
        // What the searcher may have seen is searchable: a message they just sent (or read in a sync) is found.
        await indexer.WaitForAsync(streams.Current, IndexWait, ct);
        var memberships = (await reads.GetUserMembershipsAsync(userId, ct))
            .Where(m => m.Membership is Membership.Join or Membership.Leave or Membership.Ban && request.Filter.IncludesRoom(m.RoomId))
            .ToList();
        var searchRooms = memberships.Select(m => new SearchRoom(m.RoomNid, m.Membership == Membership.Join ? long.MaxValue : m.StreamOrdering)).ToList();
        // PostgreSQL text cannot hold NUL characters: drop them from the term; a sender with one matches nobody.
        var term = request.Term.Replace("\0", string.Empty, StringComparison.Ordinal);
        var senders = request.Filter.Senders?.Where(x => !x.Contains('\0', StringComparison.Ordinal)).ToList();
        var notSenders = request.Filter.NotSenders.Where(x => !x.Contains('\0', StringComparison.Ordinal)).ToList();
        var (hits, count) = await store.SearchAsync(new SearchQuery(
            term, request.Keys.Count == 0 ? AllKeys : request.Keys, searchRooms, senders, notSenders,
            request.OrderByRank, beforeStream, offset, limit), ct);

        string? next = null;
        if (hits.Count == limit)
        {
            next = request.OrderByRank
                ? "o" + (offset + limit).ToString(CultureInfo.InvariantCulture)
                : "s" + (hits[^1].Event.StreamOrdering ?? 0).ToString(CultureInfo.InvariantCulture);
        }

        // Visibility per room, then the rest of the filter (types, contains_url), keeping the ranking order.
        var visibleIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var group in hits.GroupBy(h => h.Event.Event.RoomId))
        {
            var room = await rooms.FindRoomAsync(group.Key, ct);
            if (room is null)
            {
                continue;
            }

            var visible = await reader.FilterVisibleAsync(userId, room, group.Select(h => h.Event).ToList(), ct);
            visibleIds.UnionWith(request.Filter.Apply(visible).Select(e => e.EventId));
        }

        var kept = hits.Where(h => visibleIds.Contains(h.Event.EventId)).ToList();
        var results = new List<SearchResultItem>(kept.Count);
        foreach (var hit in kept)
        {
            results.Add(request.BeforeLimit is null && request.AfterLimit is null
                ? new SearchResultItem(hit.Event, hit.Rank, null, null, null, null, null)
                : await WithContextAsync(userId, hit, request, ct));
        }

        var state = new Dictionary<string, IReadOnlyList<StoredEvent>>(StringComparer.Ordinal);
        if (request.IncludeState)
        {
            foreach (var roomId in results.Select(r => r.Event.Event.RoomId).Distinct())
            {
                if (await rooms.FindRoomAsync(roomId, ct) is { } room && await rooms.GetMembershipAsync(room, userId, ct) == Membership.Join)
                {
                    var head = await rooms.GetHeadAsync(room, ct);
                    state[roomId] = await reads.GetStoredEventsAsync(head.State.Values.ToList(), ct);
                }
            }
        }

        var highlights = kept.SelectMany(h => h.Highlights).Distinct(StringComparer.Ordinal).ToList();
        return new SearchOutcome(count, results, highlights, next, state);
    }

    private async Task<SearchResultItem> WithContextAsync(string userId, SearchHit hit, SearchRequest request, CancellationToken ct)
    {
        var e = hit.Event;
        var room = await rooms.GetRoomAsync(e.Event.RoomId, ct);
        var beforeLimit = Math.Clamp(request.BeforeLimit ?? DefaultContextLimit, 0, MaxLimit);
        var afterLimit = Math.Clamp(request.AfterLimit ?? DefaultContextLimit, 0, MaxLimit);
        var rawBefore = beforeLimit == 0 ? [] : await reads.PaginateAsync(room.RoomNid, e.Token, null, true, beforeLimit, ct);
        var rawAfter = afterLimit == 0 ? [] : await reads.PaginateAsync(room.RoomNid, e.Token, null, false, afterLimit, ct);
        var before = await reader.FilterVisibleAsync(userId, room, rawBefore, ct);
        var after = await reader.FilterVisibleAsync(userId, room, rawAfter, ct);
        var start = rawBefore.Count > 0 ? rawBefore[^1].Token : e.Token;
        var end = rawAfter.Count > 0 ? rawAfter[^1].Token : e.Token;

        Dictionary<string, MemberProfile>? profiles = null;
        if (request.IncludeProfile && e.StateAfter is { } snapshot)
        {
            profiles = new Dictionary<string, MemberProfile>(StringComparer.Ordinal);
            var senders = before.Concat(after).Append(e).Select(x => x.Event.Sender).Distinct().Select(s => new StateKey(EventTypes.Member, s)).ToList();
            var entries = await reads.GetStateEntriesAsync(snapshot, senders, ct);
            var members = await lookup.GetEventsAsync(entries.Values, ct);
            foreach (var member in members.Values)
            {
                profiles[member.StateKey!] = new MemberProfile(ReadString(member.Content, "displayname"), ReadString(member.Content, "avatar_url"));
            }
        }

        return new SearchResultItem(e, hit.Rank, before, after, start, end, profiles);
    }

    private static string? ReadString(JsonElement content, string name) =>
        content.ValueKind == JsonValueKind.Object && content.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
