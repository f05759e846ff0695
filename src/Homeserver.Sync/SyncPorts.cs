using System.Text.Json;

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
