using Dapper;
using Homeserver.Rooms.Services;
using Npgsql;

namespace Homeserver.Storage.Rooms;

/// <summary>The <c>room_aliases</c> and <c>room_directory</c> tables.</summary>
internal sealed class RoomDirectoryRepository(NpgsqlDataSource db) : IRoomDirectoryStore
{
    private const string InsertAlias = """
        INSERT INTO room_aliases (room_alias, room_id, creator, created_ts) VALUES (@Alias, @RoomId, @Creator, @NowTs)
        ON CONFLICT (room_alias) DO NOTHING
        """;

    private const string SelectAlias = "SELECT room_id AS RoomId, creator AS Creator FROM room_aliases WHERE room_alias = @Alias";

    private const string DeleteAlias = "DELETE FROM room_aliases WHERE room_alias = @Alias";

    private const string SelectRoomAliases = "SELECT room_alias FROM room_aliases WHERE room_id = @RoomId ORDER BY created_ts";

    private const string Publish = """
        INSERT INTO room_directory (room_id, published_ts) VALUES (@RoomId, @NowTs) ON CONFLICT (room_id) DO NOTHING
        """;

    private const string Unpublish = "DELETE FROM room_directory WHERE room_id = @RoomId";

    private const string SelectPublished = "SELECT 1 FROM room_directory WHERE room_id = @RoomId";

    private const string SelectAllPublished = "SELECT room_id FROM room_directory ORDER BY published_ts";

    private sealed record AliasRow(string RoomId, string Creator);

    public async Task<bool> CreateAliasAsync(string alias, string roomId, string creator, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(InsertAlias, new { Alias = alias, RoomId = roomId, Creator = creator, NowTs = nowTs }, cancellationToken: ct)) == 1;
    }

    public async Task<(string RoomId, string Creator)?> GetAliasAsync(string alias, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<AliasRow>(new CommandDefinition(SelectAlias, new { Alias = alias }, cancellationToken: ct));
        return row is null ? null : (row.RoomId, row.Creator);
    }

    public async Task<bool> DeleteAliasAsync(string alias, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(DeleteAlias, new { Alias = alias }, cancellationToken: ct)) == 1;
    }

    public async Task<IReadOnlyList<string>> GetAliasesForRoomAsync(string roomId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<string>(new CommandDefinition(SelectRoomAliases, new { RoomId = roomId }, cancellationToken: ct))).ToList();
    }

    public async Task SetPublishedAsync(string roomId, bool published, long nowTs, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(published ? Publish : Unpublish, new { RoomId = roomId, NowTs = nowTs }, cancellationToken: ct));
    }

    public async Task<bool> IsPublishedAsync(string roomId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<int?>(new CommandDefinition(SelectPublished, new { RoomId = roomId }, cancellationToken: ct)) is not null;
    }

    public async Task<IReadOnlyList<string>> GetPublishedRoomsAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<string>(new CommandDefinition(SelectAllPublished, cancellationToken: ct))).ToList();
    }
}
