using System.Text.Json;
using Homeserver.Core.Streams;
using Homeserver.Crypto;
using Homeserver.Sync.Typing;
using Homeserver.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static Homeserver.Host.Tests.Ephemeral.SyncClient;

namespace Homeserver.Host.Tests.Ephemeral;

/// <summary>Sync tokens across a restart: a second server process on the same database takes over.</summary>
public sealed class SyncRestartTests(TestServer server) : IClassFixture<TestServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    [Fact]
    public async Task A_token_from_before_a_restart_still_syncs_and_positions_are_never_handed_out_twice()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var eventId = await alice.SendTextAsync(roomId, "before the restart");
        (await bob.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/typing/{Esc(bob.UserId!)}", new { typing = true, timeout = 60000 })).EnsureOk();
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/receipt/m.read/{Esc(eventId)}", new { })).EnsureOk();
        (await bob.PutAsync($"/_matrix/client/v3/presence/{Esc(bob.UserId!)}/status", new { presence = "online", status_msg = "persisted" })).EnsureOk();
        var before = await alice.SyncAsync(extra: "set_presence=offline");
        var token = before.NextBatch();
        SyncToken.TryParse(token, out var parsed).Should().BeTrue();

        // The "restarted" server: same database, new process state (stream allocator, typing serial, caches).
        var (app, port) = await StartSecondProcessAsync();
        await using var _ = app;
        try
        {
            app.Services.GetRequiredService<StreamPositions>().Current.Should().BeGreaterThanOrEqualTo(parsed.Stream, "receipts and presence seed the allocator too");
            app.Services.GetRequiredService<TypingService>().Floor.Should().BeGreaterThan(parsed.Typing, "a new process's typing serials are above the old ones");

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            var restarted = new MatrixClient(http) { AccessToken = alice.AccessToken, UserId = alice.UserId };
            var after = await restarted.SyncAsync(token, extra: "set_presence=offline");

            // Typing was in the old process's memory: the list is resent (empty) rather than trusted.
            var typing = after.Ephemeral(roomId).Where(e => e.Type() == "m.typing").ToList();
            typing.Should().ContainSingle().Which.GetProperty("content").GetProperty("user_ids").GetArrayLength().Should().Be(0);

            // Persisted streams continue where they were: nothing old comes again, new events do.
            after.Timeline(roomId).Should().BeEmpty();
            var newEvent = await restarted.SendTextAsync(roomId, "after the restart");
            var next = await restarted.SyncAsync(after.NextBatch(), extra: "set_presence=offline");
            next.Timeline(roomId).Select(e => e.GetProperty("event_id").GetString()).Should().Equal(newEvent);
            SyncToken.TryParse(next.NextBatch(), out var nextToken).Should().BeTrue();
            nextToken.Stream.Should().BeGreaterThan(parsed.Stream);
        }
        finally
        {
            await app.StopAsync();
        }
    }

    [Fact]
    public async Task Rooms_written_to_before_a_restart_are_in_the_first_sync_after_it()
    {
        // The new process knows which rooms have news only from what it wrote itself: an older token is answered from
        // the database, so a message sent after the token but before the restart still comes.
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var token = (await alice.SyncAsync(extra: "set_presence=offline")).NextBatch();
        var missed = await bob.SendTextAsync(roomId, "sent before the restart, after alice's token");

        var (app, port) = await StartSecondProcessAsync();
        await using var _ = app;
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            var restarted = new MatrixClient(http) { AccessToken = alice.AccessToken, UserId = alice.UserId };
            var after = await restarted.SyncAsync(token, extra: "set_presence=offline");
            after.Timeline(roomId).Select(e => e.GetProperty("event_id").GetString()).Should().Contain(missed);

            // And from then on the new process's own writes are news.
            var fresh = await restarted.SendTextAsync(roomId, "after the restart");
            var next = await restarted.SyncAsync(after.NextBatch(), extra: "set_presence=offline");
            next.Timeline(roomId).Select(e => e.GetProperty("event_id").GetString()).Should().Equal(fresh);
        }
        finally
        {
            await app.StopAsync();
        }
    }

    private async Task<(WebApplication App, int Port)> StartSecondProcessAsync()
    {
        var port = TestServer.FreePort();
        var config = server.Config with
        {
            Listeners = [server.Config.Listeners[0] with { Port = port }],
            PublicBaseUrl = new Uri($"http://127.0.0.1:{port}/"),
        };
        var app = Homeserver.Host.HomeserverApp.Build(config, server.Database.ConnectionString, Ed25519SigningKey.Generate("restart"), l => l.SetMinimumLevel(LogLevel.Warning));
        await Homeserver.Host.HomeserverApp.PrepareAsync(app, CancellationToken.None);
        await app.StartAsync();
        return (app, port);
    }
}
