using System.Net;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.RoomTestHelpers;

namespace Homeserver.Host.Tests;

/// <summary>
/// <c>PUT /rooms/{roomId}/send/{eventType}/{txnId}</c> is idempotent per device and transaction ID: a retry gets the
/// first event's ID and creates nothing, whether the room's writer still remembers the transaction (the usual retry)
/// or only the database does (after a restart).
/// </summary>
public sealed class SendIdempotencyTests(TestServer server) : IClassFixture<TestServer>
{
    private static Task<MatrixClient.Response> PutAsync(MatrixClient client, string roomId, string txnId, string body) =>
        client.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/{txnId}", new { msgtype = "m.text", body });

    private static async Task<List<string>> BodiesAsync(MatrixClient client, string roomId)
    {
        var chunk = (await client.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&limit=200")).EnsureOk().Json.GetProperty("chunk");
        return chunk.EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() == "m.room.message")
            .Select(e => e.GetProperty("content").GetProperty("body").GetString()!)
            .ToList();
    }

    [Fact]
    public async Task A_retry_in_the_same_process_returns_the_first_event_and_creates_none()
    {
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var first = (await PutAsync(alice, roomId, "again", "first")).EnsureOk().Json.GetProperty("event_id").GetString();
        await alice.SayAsync(roomId, "in between");

        // The retry's body differs: the transaction ID alone decides.
        var retry = (await PutAsync(alice, roomId, "again", "second")).EnsureOk().Json.GetProperty("event_id").GetString();

        retry.Should().Be(first);
        (await BodiesAsync(alice, roomId)).Should().BeEquivalentTo(["first", "in between"]);
    }

    [Fact]
    public async Task Concurrent_requests_with_one_transaction_id_create_one_event()
    {
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var answers = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => PutAsync(alice, roomId, "burst", "burst")));

        answers.Should().OnlyContain(a => a.Status == HttpStatusCode.OK);
        answers.Select(a => a.Json.GetProperty("event_id").GetString()).Distinct().Should().HaveCount(1);
        (await BodiesAsync(alice, roomId)).Should().Equal("burst");
    }

    [Fact]
    public async Task The_same_transaction_id_from_another_device_is_another_event()
    {
        var alice = await server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var login = (await new MatrixClient(server.Client).PostAsync("/_matrix/client/v3/login", new
        {
            type = "m.login.password",
            identifier = new { type = "m.id.user", user = alice.UserId },
            password = "correct horse battery staple",
        })).EnsureOk().Json;
        var laptop = new MatrixClient(server.Client) { AccessToken = login.GetProperty("access_token").GetString(), UserId = alice.UserId };

        var one = (await PutAsync(alice, roomId, "shared", "from the phone")).EnsureOk().Json.GetProperty("event_id").GetString();
        var two = (await PutAsync(laptop, roomId, "shared", "from the laptop")).EnsureOk().Json.GetProperty("event_id").GetString();

        two.Should().NotBe(one);
        (await BodiesAsync(alice, roomId)).Should().BeEquivalentTo(["from the phone", "from the laptop"]);
    }
}

/// <summary>
/// A retry the room's writer no longer remembers (the server restarted in between) is recognised by the stored
/// transaction IDs: it gets the stored event, never a second event or an error, and the requests written in the same
/// batch as the retry are still written once each.
/// </summary>
public sealed class SendIdempotencyAfterRestartTests : IAsyncLifetime
{
    private readonly TestServer _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task A_retry_after_a_restart_returns_the_stored_event_and_new_sends_beside_it_are_written_once()
    {
        var alice = await _server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var first = (await Put(alice, roomId, "before-restart", "before")).EnsureOk().Json.GetProperty("event_id").GetString();

        await _server.StopAsync();
        await _server.RestartAsync();

        // The retry and new sends at once, so that they may share the writer's batch (then the batch is written again without the retry).
        var sends = new List<Task<MatrixClient.Response>> { Put(alice, roomId, "before-restart", "retried") };
        sends.AddRange(Enumerable.Range(0, 6).Select(i => Put(alice, roomId, $"after-{i}", $"after {i}")));
        var answers = await Task.WhenAll(sends);

        answers.Should().OnlyContain(a => a.Status == HttpStatusCode.OK);
        answers[0].Json.GetProperty("event_id").GetString().Should().Be(first);
        answers.Skip(1).Select(a => a.Json.GetProperty("event_id").GetString()).Should().OnlyHaveUniqueItems().And.NotContain(first);

        // And the writer remembers it now: a second retry is answered the same way.
        (await Put(alice, roomId, "before-restart", "again")).EnsureOk().Json.GetProperty("event_id").GetString().Should().Be(first);

        var chunk = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/messages?dir=b&limit=100")).EnsureOk().Json.GetProperty("chunk");
        var bodies = chunk.EnumerateArray().Where(e => e.GetProperty("type").GetString() == "m.room.message")
            .Select(e => e.GetProperty("content").GetProperty("body").GetString()).ToList();
        bodies.Should().BeEquivalentTo(["before", .. Enumerable.Range(0, 6).Select(i => $"after {i}")]);
    }

    [Fact]
    public async Task Retries_after_a_restart_among_many_concurrent_sends_leave_one_chain_and_every_message_once()
    {
        // A batch holding a retry the writer does not remember fails as a whole in the database; the writer may have
        // built the next batch on it meanwhile (it builds while a batch commits), which must then be built again.
        var alice = await _server.NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var stored = new Dictionary<int, string>();
        for (var s = 0; s < 16; s++)
        {
            stored[s] = (await Put(alice, roomId, $"old-{s}", $"old {s}")).EnsureOk().Json.GetProperty("event_id").GetString()!;
        }

        await _server.StopAsync();
        await _server.RestartAsync();

        var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(async s =>
        {
            var mine = new List<(string TxnId, MatrixClient.Response Answer)>();
            for (var i = 0; i < 8; i++)
            {
                var txn = i == 2 ? $"old-{s}" : $"new-{s}-{i}";
                mine.Add((txn, await Put(alice, roomId, txn, txn)));
            }

            return mine;
        }));

        var all = answers.SelectMany(a => a).ToList();
        all.Should().OnlyContain(a => a.Answer.Status == HttpStatusCode.OK);
        for (var s = 0; s < 16; s++)
        {
            all.Single(a => a.TxnId == $"old-{s}").Answer.Json.GetProperty("event_id").GetString().Should().Be(stored[s]);
        }

        var chain = await AssertOneChainAsync(_server.Database, roomId);
        var bodies = chain.Where(e => e.Event.GetProperty("type").GetString() == "m.room.message")
            .Select(e => e.Event.GetProperty("content").GetProperty("body").GetString()).ToList();
        bodies.Should().BeEquivalentTo([
            .. Enumerable.Range(0, 16).Select(s => $"old {s}"),
            .. Enumerable.Range(0, 16).SelectMany(s => Enumerable.Range(0, 8).Where(i => i != 2).Select(i => $"new-{s}-{i}"))]);
    }

    private static Task<MatrixClient.Response> Put(MatrixClient client, string roomId, string txnId, string body) =>
        client.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/{txnId}", new { msgtype = "m.text", body });
}
