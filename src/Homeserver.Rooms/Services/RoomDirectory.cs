using Homeserver.Core;
using Homeserver.Core.Configuration;

namespace Homeserver.Rooms.Services;

/// <summary>Storage of the aliases we host and of the public room list (implemented by Homeserver.Storage).</summary>
public interface IRoomDirectoryStore
{
    /// <summary>Creates an alias; false if it already exists.</summary>
    Task<bool> CreateAliasAsync(string alias, string roomId, string creator, long nowTs, CancellationToken ct);

    Task<(string RoomId, string Creator)?> GetAliasAsync(string alias, CancellationToken ct);

    Task<bool> DeleteAliasAsync(string alias, CancellationToken ct);

    Task<IReadOnlyList<string>> GetAliasesForRoomAsync(string roomId, CancellationToken ct);

    Task SetPublishedAsync(string roomId, bool published, long nowTs, CancellationToken ct);

    Task<bool> IsPublishedAsync(string roomId, CancellationToken ct);

    Task<IReadOnlyList<string>> GetPublishedRoomsAsync(CancellationToken ct);
}

/// <summary>Resolves aliases of other servers (implemented by federation; null until it exists).</summary>
public interface IRemoteAliasResolver
{
    Task<(string RoomId, IReadOnlyList<string> Servers)?> QueryAsync(string alias, CancellationToken ct);
}

/// <summary>Room aliases (client-server API, "Room aliases"): ours are stored; others are asked over federation.</summary>
public sealed class RoomDirectory(HomeserverConfig config, IRoomDirectoryStore store, TimeProvider time, IRemoteAliasResolver? remote = null)
{
    /// <summary>The room ID an alias points at, or 404 M_NOT_FOUND.</summary>
    public async Task<string> ResolveAsync(string alias, CancellationToken ct) =>
        (await LookupAsync(alias, ct))?.RoomId ?? throw MatrixException.NotFound($"Room alias {alias} not found");

    public async Task<(string RoomId, IReadOnlyList<string> Servers)?> LookupAsync(string alias, CancellationToken ct)
    {
        if (!MatrixId.IsValidRoomAlias(alias))
        {
            throw MatrixException.InvalidParam("Invalid room alias");
        }

        if (MatrixId.ServerOf(alias) == config.ServerName)
        {
            var local = await store.GetAliasAsync(alias, ct);
            return local is { } l ? (l.RoomId, [config.ServerName]) : null;
        }

        return remote is null ? null : await remote.QueryAsync(alias, ct);
    }

    /// <summary>Creates a local alias; 409-style M_ROOM_IN_USE if taken (HTTP 409 as the spec says).</summary>
    public async Task CreateAsync(string alias, string roomId, string creator, CancellationToken ct)
    {
        if (!MatrixId.IsValidRoomAlias(alias) || alias.Contains('\n') || alias.Contains(' '))
        {
            throw MatrixException.InvalidParam("Invalid room alias");
        }

        if (MatrixId.ServerOf(alias) != config.ServerName)
        {
            throw MatrixException.InvalidParam("Room alias must be on this server");
        }

        if (!await store.CreateAliasAsync(alias, roomId, creator, time.GetUtcNow().ToUnixTimeMilliseconds(), ct))
        {
            throw new MatrixException(MatrixErrorCode.Unknown, 409, "Room alias already exists");
        }
    }

    public Task<(string RoomId, string Creator)?> GetLocalAsync(string alias, CancellationToken ct) => store.GetAliasAsync(alias, ct);

    public Task<bool> DeleteAsync(string alias, CancellationToken ct) => store.DeleteAliasAsync(alias, ct);

    public Task<IReadOnlyList<string>> GetAliasesForRoomAsync(string roomId, CancellationToken ct) => store.GetAliasesForRoomAsync(roomId, ct);

    public Task SetPublishedAsync(string roomId, bool published, CancellationToken ct) =>
        store.SetPublishedAsync(roomId, published, time.GetUtcNow().ToUnixTimeMilliseconds(), ct);

    public Task<bool> IsPublishedAsync(string roomId, CancellationToken ct) => store.IsPublishedAsync(roomId, ct);

    public Task<IReadOnlyList<string>> GetPublishedRoomsAsync(CancellationToken ct) => store.GetPublishedRoomsAsync(ct);

    /// <summary>
    /// After an upgrade: our aliases of <paramref name="oldRoomId"/> point to <paramref name="newRoomId"/> instead, and the
    /// new room takes the old one's place in the public room list (as Synapse's transfer_room_state_on_room_upgrade).
    /// Doing it again changes nothing.
    /// </summary>
    public async Task MoveToSuccessorAsync(string oldRoomId, string newRoomId, CancellationToken ct)
    {
        foreach (var alias in await GetAliasesForRoomAsync(oldRoomId, ct))
        {
            if (await GetLocalAsync(alias, ct) is { } local && local.RoomId == oldRoomId)
            {
                await DeleteAsync(alias, ct);
                await CreateAsync(alias, newRoomId, local.Creator, ct);
            }
        }

        if (await IsPublishedAsync(oldRoomId, ct))
        {
            await SetPublishedAsync(oldRoomId, false, ct);
            await SetPublishedAsync(newRoomId, true, ct);
        }
    }
}
