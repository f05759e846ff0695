using System.Text.Json;
using Homeserver.TestKit;
using Npgsql;

namespace Homeserver.Host.Tests.Ephemeral;

/// <summary>Shorthands for the sync and ephemeral tests: rooms, messages, syncs and reading their answers.</summary>
internal static class SyncClient
{
    public static string Esc(string value) => Uri.EscapeDataString(value);

    /// <summary>
    /// A sync filter that leaves presence out, for the tests that show a long poll sleeping until something wakes it.
    /// Sending events counts as activity, and a user's first activity is announced (as Synapse's should_notify does);
    /// that change is written after the send was answered, so it can land after the token the poll starts from and
    /// wake the poll before the test's own change.
    /// </summary>
    public const string WithoutPresence = """{"presence":{"not_types":["*"]}}""";

    public static async Task<string> CreateRoomAsync(this MatrixClient client, object? body = null) =>
        (await client.PostAsync("/_matrix/client/v3/createRoom", body ?? new { })).EnsureOk().Json.GetProperty("room_id").GetString()!;

    public static async Task<string> SendTextAsync(this MatrixClient client, string roomId, string body, object? extra = null)
    {
        var content = extra ?? new { msgtype = "m.text", body };
        var response = await client.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/{Guid.NewGuid():N}", content);
        return response.EnsureOk().Json.GetProperty("event_id").GetString()!;
    }

    public static async Task JoinAsync(this MatrixClient client, string roomId) =>
        (await client.PostAsync($"/_matrix/client/v3/join/{Esc(roomId)}", new { })).EnsureOk();

    /// <summary>A room both users are joined to (public, created by the first).</summary>
    public static async Task<string> SharedRoomAsync(MatrixClient creator, params MatrixClient[] others)
    {
        var roomId = await creator.CreateRoomAsync(new { preset = "public_chat" });
        foreach (var other in others)
        {
            await other.JoinAsync(roomId);
        }

        return roomId;
    }

    public static async Task<JsonElement> SyncAsync(this MatrixClient client, string? since = null, int timeout = 0, string? filter = null, string? extra = null)
    {
        var url = "/_matrix/client/v3/sync?timeout=" + timeout
            + (since is null ? string.Empty : "&since=" + Esc(since))
            + (filter is null ? string.Empty : "&filter=" + Esc(filter))
            + (extra is null ? string.Empty : "&" + extra);
        return (await client.GetAsync(url)).EnsureOk().Json;
    }

    /// <summary>
    /// Sets the user's <c>m.ignored_user_list</c> (the accounts module's account-data API is on another branch: write
    /// the row it would write). An empty list un-ignores everyone.
    /// </summary>
    public static async Task SetIgnoredUsersAsync(TestServer server, string userId, params string[] ignored)
    {
        var content = JsonSerializer.Serialize(new { ignored_users = ignored.ToDictionary(u => u, _ => new { }) });
        await using var conn = new NpgsqlConnection(server.Database.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            """
            INSERT INTO account_data (user_id, room_id, data_type, content, stream_id) VALUES ($1, '', 'm.ignored_user_list', $2, 1)
            ON CONFLICT (user_id, room_id, data_type) DO UPDATE SET content = EXCLUDED.content
            """,
            conn);
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(content);
        await cmd.ExecuteNonQueryAsync();
    }

    public static string NextBatch(this JsonElement sync) => sync.GetProperty("next_batch").GetString()!;

    public static JsonElement? JoinedRoom(this JsonElement sync, string roomId) =>
        sync.GetProperty("rooms").GetProperty("join").TryGetProperty(roomId, out var room) ? room : null;

    public static IReadOnlyList<JsonElement> Timeline(this JsonElement sync, string roomId) =>
        sync.JoinedRoom(roomId) is { } room ? room.GetProperty("timeline").GetProperty("events").EnumerateArray().ToList() : [];

    public static IReadOnlyList<JsonElement> State(this JsonElement sync, string roomId) =>
        sync.JoinedRoom(roomId) is { } room ? room.GetProperty("state").GetProperty("events").EnumerateArray().ToList() : [];

    public static IReadOnlyList<JsonElement> Ephemeral(this JsonElement sync, string roomId) =>
        sync.JoinedRoom(roomId) is { } room ? room.GetProperty("ephemeral").GetProperty("events").EnumerateArray().ToList() : [];

    public static IReadOnlyList<JsonElement> PresenceEvents(this JsonElement sync) =>
        sync.TryGetProperty("presence", out var p) ? p.GetProperty("events").EnumerateArray().ToList() : [];

    public static string Type(this JsonElement e) => e.GetProperty("type").GetString()!;

    public static string? StateKey(this JsonElement e) => e.TryGetProperty("state_key", out var k) ? k.GetString() : null;

    public static string Body(this JsonElement e) => e.GetProperty("content").GetProperty("body").GetString()!;

    /// <summary>Syncs (long-polling) until <paramref name="until"/> holds for an answer, or fails after a while.</summary>
    public static async Task<JsonElement> SyncUntilAsync(this MatrixClient client, string since, Func<JsonElement, bool> until, string? filter = null, int attempts = 20)
    {
        for (var i = 0; i < attempts; i++)
        {
            var sync = await client.SyncAsync(since, timeout: 2000, filter: filter);
            if (until(sync))
            {
                return sync;
            }

            since = sync.NextBatch();
        }

        throw new InvalidOperationException("the expected sync answer never came");
    }
}
