using System.Text.Json;
using Homeserver.TestKit;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary>Shortcuts for the room feature tests: users, rooms and messages through the client API.</summary>
internal static class RoomTestHelpers
{
    public static string Esc(string s) => Uri.EscapeDataString(s);

    /// <summary>Polls <paramref name="condition"/> every 100 ms until it holds; fails after 20 s.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string because)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            DateTime.UtcNow.Should().BeBefore(deadline, because);
            await Task.Delay(100);
        }
    }

    /// <summary>Runs a statement on the server's database (a test setting up what a crash would leave).</summary>
    public static async Task ExecuteAsync(NpgsqlDataSource db, string sql)
    {
        await using var command = db.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Reads one number from the server's database.</summary>
    public static async Task<long> ScalarAsync(NpgsqlDataSource db, string sql)
    {
        await using var command = db.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static Task<MatrixClient> NewUserAsync(this TestServer server, string? username = null) => new MatrixClient(server.Client).RegisterAsync(username);

    public static async Task<string> CreateRoomAsync(this MatrixClient client, object? body = null) =>
        (await client.PostAsync("/_matrix/client/v3/createRoom", body ?? new { })).EnsureOk().Json.GetProperty("room_id").GetString()!;

    public static async Task<string> SendAsync(this MatrixClient client, string roomId, object content, string type = "m.room.message") =>
        (await client.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/{type}/{Guid.NewGuid():N}", content)).EnsureOk().Json.GetProperty("event_id").GetString()!;

    public static Task<string> SayAsync(this MatrixClient client, string roomId, string body) => client.SendAsync(roomId, new { msgtype = "m.text", body });

    public static async Task<string> SetStateAsync(this MatrixClient client, string roomId, string type, object content, string stateKey = "") =>
        (await client.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/state/{type}/{Esc(stateKey)}", content)).EnsureOk().Json.GetProperty("event_id").GetString()!;

    public static async Task JoinAsync(this MatrixClient client, string roomId) =>
        (await client.PostAsync($"/_matrix/client/v3/join/{Esc(roomId)}", new { })).EnsureOk();

    public static async Task InviteAsync(this MatrixClient client, string roomId, string userId) =>
        (await client.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/invite", new { user_id = userId })).EnsureOk();

    public static IEnumerable<string> Ids(this JsonElement array) => array.EnumerateArray().Select(e => e.GetProperty("event_id").GetString()!);

    /// <summary>Writes global account data straight into the database (the account data API belongs to another module).</summary>
    public static async Task SetAccountDataAsync(this TestServer server, string userId, string type, string json)
    {
        await using var conn = new NpgsqlConnection(server.Database.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            INSERT INTO account_data (user_id, room_id, data_type, content, stream_id) VALUES (@u, '', @t, @c, 0)
            ON CONFLICT (user_id, room_id, data_type) DO UPDATE SET content = EXCLUDED.content
            """, conn);
        cmd.Parameters.AddWithValue("u", userId);
        cmd.Parameters.AddWithValue("t", type);
        cmd.Parameters.AddWithValue("c", json);
        await cmd.ExecuteNonQueryAsync();
    }

    public static async Task<long> CountAsync(this TestServer server, string sql)
    {
        await using var conn = new NpgsqlConnection(server.Database.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The room's timeline as stored is one chain: every event's only prev_event is the event before it in stream order,
    /// and the room has one forward extremity. Returns the events (ID, JSON) in stream order.
    /// </summary>
    public static async Task<List<(string Id, JsonElement Event)>> AssertOneChainAsync(TestDatabase database, string roomId)
    {
        await using var conn = new NpgsqlConnection(database.ConnectionString);
        await conn.OpenAsync();
        var chain = new List<(string Id, JsonElement Event)>();
        await using (var cmd = new NpgsqlCommand(
            "SELECT e.event_id, e.json FROM events e JOIN rooms r ON r.room_nid = e.room_nid WHERE r.room_id = $1 AND e.stream_ordering IS NOT NULL ORDER BY e.stream_ordering", conn))
        {
            cmd.Parameters.AddWithValue(roomId);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                using var doc = JsonDocument.Parse(reader.GetString(1));
                chain.Add((reader.GetString(0), doc.RootElement.Clone()));
            }
        }

        for (var i = 1; i < chain.Count; i++)
        {
            chain[i].Event.GetProperty("prev_events").EnumerateArray().Select(p => p.GetString()).Should()
                .Equal([chain[i - 1].Id], "event {0} of the room follows the one before it", i);
        }

        await using (var cmd = new NpgsqlCommand("SELECT cardinality(s.forward_extremities)::bigint FROM room_current_snapshot s JOIN rooms r ON r.room_nid = s.room_nid WHERE r.room_id = $1", conn))
        {
            cmd.Parameters.AddWithValue(roomId);
            ((long)(await cmd.ExecuteScalarAsync())!).Should().Be(1, "the room has one forward extremity");
        }

        return chain;
    }
}
