using System.Text.Json;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Sync;

/// <summary>One account data entry: global when <see cref="RoomId"/> is empty.</summary>
public sealed record AccountDataEntry(string RoomId, string Type, string Content, long StreamId);

/// <summary>Reads of the non-room streams for sync (implemented by Homeserver.Storage).</summary>
public interface ISyncDataStore
{
    /// <summary>Account data written in (<paramref name="afterStream"/>, <paramref name="upToStream"/>]; all of it when afterStream is 0.</summary>
    Task<IReadOnlyList<AccountDataEntry>> GetAccountDataAsync(string userId, long afterStream, long upToStream, CancellationToken ct);
}

/// <summary>Filters stored with <c>POST /user/{userId}/filter</c> (implemented over the accounts store).</summary>
public interface IFilterLookup
{
    Task<JsonElement?> GetFilterAsync(string userId, string filterId, CancellationToken ct);
}

/// <summary>The timeline window of one room: stream positions in (<see cref="AfterStream"/>, <see cref="UpToStream"/>].</summary>
public readonly record struct TimelineWindow(long RoomNid, long AfterStream, long UpToStream);

/// <summary>Member counts of a room and its heroes (client-server API, <c>RoomSummary</c>).</summary>
public sealed record RoomMemberSummary(int Joined, int Invited, IReadOnlyList<string> Heroes);

/// <summary>
/// Batched reads for sync (implemented by Homeserver.Storage): one query for many rooms at once, so that an
/// initial sync costs a handful of round trips whatever the number of rooms.
/// </summary>
public interface ISyncRoomStore
{
    /// <summary>The latest timeline events of each window, newest first, at most <paramref name="limit"/> per room (rejected and soft-failed events skipped).</summary>
    Task<IReadOnlyDictionary<long, IReadOnlyList<StoredEvent>>> GetLatestEventsAsync(IReadOnlyList<TimelineWindow> windows, int limit, CancellationToken ct);

    /// <summary>The state snapshot after the last timeline event at or before each room's position (rooms without one are absent).</summary>
    Task<IReadOnlyDictionary<long, long>> GetStateSnapshotsAtAsync(IReadOnlyList<(long RoomNid, long UpToStream)> rooms, CancellationToken ct);

    /// <summary>
    /// Joined and invited counts of each room, and up to <paramref name="heroCount"/> heroes: members other than
    /// <paramref name="userId"/> who are joined or invited, by stream order of their membership; when there are
    /// none, those who left or were banned.
    /// </summary>
    Task<IReadOnlyDictionary<long, RoomMemberSummary>> GetMemberSummariesAsync(IReadOnlyCollection<long> roomNids, string userId, int heroCount, CancellationToken ct);

    /// <summary>
    /// The stream position of the last timeline event of each room at or before <paramref name="upToStream"/>, among
    /// <paramref name="types"/> when given (rooms without one are absent). Sliding sync sorts by it and bumps with it.
    /// </summary>
    Task<IReadOnlyDictionary<long, long>> GetLastPositionsAsync(IReadOnlyCollection<long> roomNids, long upToStream, IReadOnlyCollection<string>? types, CancellationToken ct);

    /// <summary>Events with their metadata (parsed events come from the shared cache when present).</summary>
    Task<IReadOnlyList<StoredEvent>> GetStoredEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken ct);
}
