using System.Net;
using System.Text.Json;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Ephemeral.SyncClient;

namespace Homeserver.Host.Tests.Ephemeral;

public sealed class ReceiptTests(TestServer server) : IClassFixture<TestServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    private static Task<MatrixClient.Response> ReceiptAsync(MatrixClient client, string roomId, string type, string eventId, object? body = null) =>
        client.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/receipt/{Esc(type)}/{Esc(eventId)}", body ?? new { });

    /// <summary>The merged content of the m.receipt events of a room in a sync answer.</summary>
    private static Dictionary<(string EventId, string Type, string User), JsonElement> Receipts(JsonElement sync, string roomId)
    {
        var result = new Dictionary<(string, string, string), JsonElement>();
        foreach (var e in sync.Ephemeral(roomId).Where(e => e.Type() == "m.receipt"))
        {
            foreach (var ev in e.GetProperty("content").EnumerateObject())
            {
                foreach (var type in ev.Value.EnumerateObject())
                {
                    foreach (var user in type.Value.EnumerateObject())
                    {
                        result[(ev.Name, type.Name, user.Name)] = user.Value;
                    }
                }
            }
        }

        return result;
    }

    [Fact]
    public async Task A_read_receipt_reaches_the_other_members_with_its_timestamp()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var eventId = await alice.SendTextAsync(roomId, "read me");
        var since = (await alice.SyncAsync()).NextBatch();

        (await ReceiptAsync(bob, roomId, "m.read", eventId)).EnsureOk();
        var sync = await alice.SyncAsync(since);
        var receipt = Receipts(sync, roomId)[(eventId, "m.read", bob.UserId!)];
        receipt.GetProperty("ts").GetInt64().Should().BeGreaterThan(0);
        receipt.TryGetProperty("thread_id", out _).Should().BeFalse("an unthreaded receipt has no thread_id");

        // An initial sync carries the room's current receipts too.
        Receipts(await alice.SyncAsync(), roomId).Should().ContainKey((eventId, "m.read", bob.UserId!));
    }

    [Fact]
    public async Task A_private_read_receipt_is_seen_by_its_owner_only()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var eventId = await alice.SendTextAsync(roomId, "secretly read");
        var aliceSince = (await alice.SyncAsync()).NextBatch();
        var bobSince = (await bob.SyncAsync()).NextBatch();

        (await ReceiptAsync(bob, roomId, "m.read.private", eventId)).EnsureOk();

        Receipts(await bob.SyncAsync(bobSince), roomId).Should().ContainKey((eventId, "m.read.private", bob.UserId!));
        Receipts(await alice.SyncAsync(aliceSince), roomId).Keys.Should().NotContain(k => k.Type == "m.read.private");
        Receipts(await alice.SyncAsync(), roomId).Keys.Should().NotContain(k => k.Type == "m.read.private");
    }

    [Fact]
    public async Task A_private_receipt_does_not_wake_the_long_poll_of_other_members()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var eventId = await alice.SendTextAsync(roomId, "hello");
        var since = (await alice.SyncAsync()).NextBatch();

        var poll = alice.SyncAsync(since, timeout: 1500);
        (await ReceiptAsync(bob, roomId, "m.read.private", eventId)).EnsureOk();
        var sync = await poll;
        Receipts(sync, roomId).Should().BeEmpty();
    }

    [Fact]
    public async Task A_threaded_receipt_carries_its_thread_id()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var root = await alice.SendTextAsync(roomId, "root");
        var mainEvent = await alice.SendTextAsync(roomId, "in the main timeline");
        var reply = await alice.PutAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/send/m.room.message/{Guid.NewGuid():N}",
            JsonDocument.Parse($$$"""{"msgtype":"m.text","body":"in thread","m.relates_to":{"rel_type":"m.thread","event_id":"{{{root}}}"}}""").RootElement);
        var replyId = reply.EnsureOk().Json.GetProperty("event_id").GetString()!;
        var since = (await alice.SyncAsync()).NextBatch();

        (await ReceiptAsync(bob, roomId, "m.read", replyId, new { thread_id = root })).EnsureOk();
        (await ReceiptAsync(bob, roomId, "m.read", mainEvent, new { thread_id = "main" })).EnsureOk();
        // The second receipt may reach a later answer when another write holds an earlier stream position: follow the
        // token for a few answers, as a client does.
        var receipts = new Dictionary<(string EventId, string Type, string User), JsonElement>();
        for (var attempt = 0; attempt < 20 && !(receipts.ContainsKey((replyId, "m.read", bob.UserId!)) && receipts.ContainsKey((mainEvent, "m.read", bob.UserId!))); attempt++)
        {
            var sync = await alice.SyncAsync(since);
            since = sync.NextBatch();
            foreach (var (key, value) in Receipts(sync, roomId))
            {
                receipts[key] = value;
            }
        }

        receipts[(replyId, "m.read", bob.UserId!)].GetProperty("thread_id").GetString().Should().Be(root);
        receipts[(mainEvent, "m.read", bob.UserId!)].GetProperty("thread_id").GetString().Should().Be("main");

        // A threaded reply is not in the main timeline, and a main-timeline event is in no thread.
        (await ReceiptAsync(bob, roomId, "m.read", replyId, new { thread_id = "main" })).ErrCode.Should().Be("M_INVALID_PARAM");
        (await ReceiptAsync(bob, roomId, "m.read", mainEvent, new { thread_id = root })).ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task A_receipt_never_moves_backwards()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var older = await alice.SendTextAsync(roomId, "older");
        var newer = await alice.SendTextAsync(roomId, "newer");
        (await ReceiptAsync(bob, roomId, "m.read", newer)).EnsureOk();
        (await ReceiptAsync(bob, roomId, "m.read", older)).EnsureOk();

        var receipts = Receipts(await alice.SyncAsync(), roomId).Keys.Where(k => k.User == bob.UserId && k.Type == "m.read").ToList();
        receipts.Should().ContainSingle().Which.EventId.Should().Be(newer);
    }

    [Theory]
    [InlineData("m.unknown", "M_INVALID_PARAM")]
    [InlineData("m.fully_read", "M_INVALID_PARAM")]
    public async Task A_bad_receipt_request_is_a_400(string type, string errcode)
    {
        var alice = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var eventId = await alice.SendTextAsync(roomId, "x");
        var response = await ReceiptAsync(alice, roomId, type, eventId, new { thread_id = "main" });
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }

    [Fact]
    public async Task A_receipt_for_an_unknown_or_invisible_event_is_not_found()
    {
        var alice = await NewUserAsync();
        var mallory = await NewUserAsync();
        var roomId = await alice.CreateRoomAsync();
        var eventId = await alice.SendTextAsync(roomId, "private");

        (await ReceiptAsync(alice, roomId, "m.read", "$nope:example.org")).Status.Should().Be(HttpStatusCode.NotFound);
        (await ReceiptAsync(mallory, roomId, "m.read", eventId)).Status.Should().Be(HttpStatusCode.NotFound);
        (await ReceiptAsync(alice, roomId, "m.read", "not-an-event-id")).ErrCode.Should().Be("M_INVALID_PARAM");
        (await ReceiptAsync(alice, roomId, "m.read", eventId, new { thread_id = 5 })).ErrCode.Should().Be("M_INVALID_PARAM");
        (await ReceiptAsync(alice, roomId, "m.read", eventId, new { thread_id = "" })).ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task Read_markers_set_the_fully_read_marker_as_room_account_data_and_the_receipts()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var first = await alice.SendTextAsync(roomId, "first");
        var second = await alice.SendTextAsync(roomId, "second");
        var bobSince = (await bob.SyncAsync()).NextBatch();

        var body = new Dictionary<string, string> { ["m.fully_read"] = second, ["m.read"] = second, ["m.read.private"] = second };
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/read_markers", body)).EnsureOk();

        var sync = await bob.SyncAsync(bobSince);
        var accountData = sync.JoinedRoom(roomId)!.Value.GetProperty("account_data").GetProperty("events").EnumerateArray().ToList();
        accountData.Should().ContainSingle(e => e.Type() == "m.fully_read")
            .Which.GetProperty("content").GetProperty("event_id").GetString().Should().Be(second);
        var receipts = Receipts(sync, roomId);
        receipts.Should().ContainKey((second, "m.read", bob.UserId!));
        receipts.Should().ContainKey((second, "m.read.private", bob.UserId!));

        // The marker only moves forward.
        (await bob.PostAsync($"/_matrix/client/v3/rooms/{Esc(roomId)}/read_markers", new Dictionary<string, string> { ["m.fully_read"] = first })).EnsureOk();
        (await ReceiptAsync(bob, roomId, "m.fully_read", first)).EnsureOk();
        var later = await bob.SyncAsync(sync.NextBatch());
        (later.JoinedRoom(roomId) is { } room ? room.GetProperty("account_data").GetProperty("events").GetArrayLength() : 0).Should().Be(0);
    }

    [Fact]
    public async Task A_receipt_wakes_the_long_poll_of_another_member()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await SharedRoomAsync(alice, bob);
        var eventId = await alice.SendTextAsync(roomId, "hello");
        var since = (await alice.SyncAsync(filter: WithoutPresence)).NextBatch();

        var poll = alice.SyncAsync(since, timeout: 20_000, filter: WithoutPresence);
        await Task.Delay(300);
        poll.IsCompleted.Should().BeFalse();
        (await ReceiptAsync(bob, roomId, "m.read", eventId)).EnsureOk();

        // The poll may have been woken first by something else new for Alice (her message's unread counts):
        // follow the token, long-polling, until the receipt is there.
        var answer = await poll;
        if (!Receipts(answer, roomId).ContainsKey((eventId, "m.read", bob.UserId!)))
        {
            answer = await alice.SyncUntilAsync(answer.NextBatch(), s => Receipts(s, roomId).ContainsKey((eventId, "m.read", bob.UserId!)));
        }

        Receipts(answer, roomId).Should().ContainKey((eventId, "m.read", bob.UserId!));
    }
}
