using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Services;

namespace Homeserver.Rooms.Relations;

/// <summary>A page of related events or thread roots, with the tokens of its ends.</summary>
public sealed record RelationPage(IReadOnlyList<StoredEvent> Events, string? NextBatch, string? PrevBatch, int? RecursionDepth = null);

/// <summary>
/// /relations and /threads (client-server API, "Relationships between events" and "Threading"): the events relating to
/// one the reader can see, in topological order, each filtered by history visibility and the ignored-users list.
/// </summary>
public sealed class RelationReader(IRelationStore store, RoomReader reader)
{
    /// <summary>How deep <c>recurse=true</c> follows relations of relations (Synapse's limit).</summary>
    public const int MaxRecursionDepth = 3;

    public const int DefaultLimit = 5;

    public const int MaxLimit = 1000;

    public async Task<RelationPage> GetRelationsAsync(
        string userId, RoomRecord room, string parentId, string? relType, string? eventType, PaginationToken? from, PaginationToken? to,
        bool backwards, int limit, bool recurse, CancellationToken ct)
    {
        // The parent must be visible to the reader: otherwise 404, so that its existence is not leaked.
        await reader.GetEventAsync(userId, room, parentId, ct);
        var depth = recurse ? MaxRecursionDepth : 1;
        if (relType?.Contains('\0', StringComparison.Ordinal) == true || eventType?.Contains('\0', StringComparison.Ordinal) == true)
        {
            return new RelationPage([], null, from?.ToString(), recurse ? depth : null); // matches nothing (and cannot reach PostgreSQL)
        }

        var raw = await store.GetRelationsAsync(room.RoomNid, parentId, relType, eventType, from, to, backwards, limit, depth, ct);
        var visible = await reader.FilterVisibleAsync(userId, room, raw, ct);

        // A full page may have more after it; a short one is the end.
        var next = raw.Count == limit ? raw[^1].Token.ToString() : null;
        return new RelationPage(visible, next, from?.ToString(), recurse ? depth : null);
    }

    /// <summary>Thread roots, most recently active first; <paramref name="participatedOnly"/> keeps those the reader took part in.</summary>
    public async Task<RelationPage> GetThreadsAsync(string userId, RoomRecord room, bool participatedOnly, PaginationToken? from, int limit, CancellationToken ct)
    {
        await reader.RequireMayReadRoomAsync(userId, room, ct);
        var roots = await store.GetThreadsAsync(room.RoomNid, participatedOnly ? userId : null, from, limit, ct);
        var stored = await reader.GetStoredAsync(roots.Select(r => r.RootEventId).ToList(), ct);
        var byId = stored.Where(e => e.Event.RoomId == room.RoomId).ToDictionary(e => e.EventId, StringComparer.Ordinal);
        var ordered = roots.Select(r => byId.GetValueOrDefault(r.RootEventId)).OfType<StoredEvent>().ToList();
        var visible = await reader.FilterVisibleAsync(userId, room, ordered, ct);
        var next = roots.Count == limit ? roots[^1].Latest.ToString() : null;
        return new RelationPage(visible, next, null);
    }

    /// <summary>Parses a pagination token of these endpoints (the same as /messages and /sync tokens); bad ones are 400.</summary>
    public static PaginationToken? ParseToken(string? text, string name)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        return PaginationToken.TryParse(text, out var token) ? token : throw MatrixException.InvalidParam($"Invalid '{name}' token");
    }
}
