using Homeserver.Core.Streams;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using static Homeserver.Host.Tests.RoomTestHelpers;

namespace Homeserver.Host.Tests;

/// <summary>
/// The notifications a crash left unstored (the evaluator runs after the events' commit, in memory) are stored at the
/// next start, from the position the evaluator recorded; and that position follows the stream while nothing comes.
/// </summary>
public sealed class NotificationRecoveryTests : IAsyncLifetime
{
    private readonly TestServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task Notifications_missing_after_a_stop_are_stored_at_the_next_start_once_each()
    {
        var alice = await _server.NewUserAsync();
        var bob = await _server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync(new { preset = "public_chat" });
        await bob.JoinAsync(roomId);
        var kept = await alice.SayAsync(roomId, "stored before the stop");
        var lost = new[] { await alice.SayAsync(roomId, "lost one"), await alice.SayAsync(roomId, "lost two") };
        await WaitUntilAsync(async () => (await NotifiedAsync(bob)).Count == 3, "the evaluator should get there within 20 s");
        await _server.StopAsync();

        // As a crash before the evaluator stored the last two would leave the database: their rows missing, and the
        // position before them. It is set back before the one stored too, which must not be stored twice.
        await using var db = NpgsqlDataSource.Create(_server.Database.ConnectionString);
        await ExecuteAsync(db, $"DELETE FROM notifications WHERE stream_ordering IN (SELECT stream_ordering FROM events WHERE event_id IN ('{lost[0]}', '{lost[1]}'))");
        await ExecuteAsync(db, $"UPDATE push_evaluation_position SET stream_ordering = (SELECT stream_ordering - 1 FROM events WHERE event_id = '{kept}')");

        await _server.RestartAsync();
        List<string> notified = [];
        await WaitUntilAsync(async () => (notified = await NotifiedAsync(bob)).Count >= 3, "the evaluator should get there within 20 s");
        notified.Should().Equal(lost[1], lost[0], kept);

        var sync = (await bob.GetAsync("/_matrix/client/v3/sync")).EnsureOk().Json;
        sync.GetProperty("rooms").GetProperty("join").GetProperty(roomId).GetProperty("unread_notifications").GetProperty("notification_count").GetInt64().Should().Be(3);
        (await ScalarAsync(db, "SELECT stream_ordering FROM push_evaluation_position"))
            .Should().BeGreaterThanOrEqualTo(await ScalarAsync(db, $"SELECT stream_ordering FROM events WHERE event_id = '{lost[1]}'"));
    }

    [Fact]
    public async Task The_recorded_position_follows_the_stream_while_nothing_is_evaluated()
    {
        var alice = await _server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var message = await alice.SayAsync(roomId, "a message");
        await using var db = NpgsqlDataSource.Create(_server.Database.ConnectionString);
        var position = "SELECT stream_ordering FROM push_evaluation_position";
        await WaitUntilAsync(async () => await ScalarAsync(db, position) >= await ScalarAsync(db, $"SELECT stream_ordering FROM events WHERE event_id = '{message}'"), "the evaluator should get there within 20 s");

        // Account data takes a stream position and is nothing to evaluate: only the idle tick moves the position there.
        (await alice.PutAsync($"/_matrix/client/v3/user/{Esc(alice.UserId!)}/account_data/org.example.setting", new { on = true })).EnsureOk();
        var current = _server.Services.GetRequiredService<StreamPositions>().Current;
        await WaitUntilAsync(async () => await ScalarAsync(db, position) >= current, "the evaluator should get there within 20 s");
    }

    private static async Task<List<string>> NotifiedAsync(MatrixClient client)
    {
        var body = (await client.GetAsync("/_matrix/client/v3/notifications")).EnsureOk().Json;
        return body.GetProperty("notifications").EnumerateArray().Select(n => n.GetProperty("event").GetProperty("event_id").GetString()!).ToList();
    }
}
