using System.Net;
using System.Text.Json;
using Homeserver.Push;
using Homeserver.Push.Notifications;
using Homeserver.Storage;
using Homeserver.Storage.Push;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Homeserver.Host.Tests;

public sealed class NotificationTests(TestServer server) : IClassFixture<TestServer>
{
    private Task<MatrixClient> NewUserAsync() => new MatrixClient(server.Client).RegisterAsync();

    private static async Task<string> CreateRoomAsync(MatrixClient client, object? body = null) =>
        (await client.PostAsync("/_matrix/client/v3/createRoom", body ?? new { preset = "public_chat" })).EnsureOk().Json.GetProperty("room_id").GetString()!;

    private static async Task JoinAsync(MatrixClient client, string roomId) =>
        (await client.PostAsync($"/_matrix/client/v3/join/{Uri.EscapeDataString(roomId)}", new { })).EnsureOk();

    private static async Task<string> SendAsync(MatrixClient client, string roomId, object content, string type = "m.room.message") =>
        (await client.PutAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/send/{type}/{Guid.NewGuid():N}", content)).EnsureOk().Json.GetProperty("event_id").GetString()!;

    private static async Task<JsonElement> RoomInSyncAsync(MatrixClient client, string roomId, string? filter = null)
    {
        var url = "/_matrix/client/v3/sync" + (filter is null ? string.Empty : "?filter=" + Uri.EscapeDataString(filter));
        return (await client.GetAsync(url)).EnsureOk().Json.GetProperty("rooms").GetProperty("join").GetProperty(roomId);
    }

    private static (long Notifications, long Highlights) Unread(JsonElement room) =>
        (room.GetProperty("unread_notifications").GetProperty("notification_count").GetInt64(),
         room.GetProperty("unread_notifications").GetProperty("highlight_count").GetInt64());

    /// <summary>Three members so that the one-to-one rules do not apply: alice, bob and carol.</summary>
    private async Task<(MatrixClient Alice, MatrixClient Bob, MatrixClient Carol, string RoomId)> GroupAsync()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var carol = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice);
        await JoinAsync(bob, roomId);
        await JoinAsync(carol, roomId);
        return (alice, bob, carol, roomId);
    }

    [Fact]
    public async Task Messages_from_others_count_and_mentions_highlight_in_the_same_sync_as_the_event()
    {
        var (alice, bob, _, roomId) = await GroupAsync();
        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((0, 0));

        await SendAsync(bob, roomId, new { msgtype = "m.text", body = "hello all" });
        var mention = await SendAsync(bob, roomId, JsonDocument.Parse($$$"""{"msgtype": "m.text", "body": "hey you", "m.mentions": {"user_ids": ["{{{alice.UserId}}}"]}}""").RootElement);
        // A sync's position may trail a just-committed send while another write (presence, say) holds an earlier
        // stream position; the test reads until the mention is there and checks the counts of that same answer.
        var room = await RoomInSyncAsync(alice, roomId);
        for (var attempt = 0; attempt < 50 && !room.GetProperty("timeline").GetProperty("events").EnumerateArray().Any(e => e.GetProperty("event_id").GetString() == mention); attempt++)
        {
            await Task.Delay(100);
            room = await RoomInSyncAsync(alice, roomId);
        }

        room.GetProperty("timeline").GetProperty("events").EnumerateArray().Select(e => e.GetProperty("event_id").GetString()).Should().Contain(mention);
        Unread(room).Should().Be((2, 1));

        // The sender is never notified of their own events; notices and reactions do not count.
        Unread(await RoomInSyncAsync(bob, roomId)).Should().Be((0, 0));
        await SendAsync(bob, roomId, new { msgtype = "m.notice", body = "bot says" });
        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((2, 1));
    }

    [Fact]
    public async Task A_long_poll_woken_by_a_message_carries_its_count()
    {
        var (alice, bob, _, roomId) = await GroupAsync();
        var since = (await alice.GetAsync("/_matrix/client/v3/sync")).EnsureOk().Json.GetProperty("next_batch").GetString()!;
        var poll = alice.GetAsync("/_matrix/client/v3/sync?timeout=15000&since=" + Uri.EscapeDataString(since));
        await Task.Delay(200);
        var eventId = await SendAsync(bob, roomId, new { msgtype = "m.text", body = "wake up" });
        var room = (await poll).EnsureOk().Json.GetProperty("rooms").GetProperty("join").GetProperty(roomId);
        room.GetProperty("timeline").GetProperty("events").EnumerateArray().Select(e => e.GetProperty("event_id").GetString()).Should().Contain(eventId);
        Unread(room).Should().Be((1, 0));
    }

    [Fact]
    public async Task A_read_receipt_resets_the_counts_up_to_its_event()
    {
        var (alice, bob, _, roomId) = await GroupAsync();
        var first = await SendAsync(bob, roomId, new { msgtype = "m.text", body = "one" });
        await SendAsync(bob, roomId, new { msgtype = "m.text", body = "two" });
        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((2, 0));

        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/receipt/m.read/{Uri.EscapeDataString(first)}", new { })).EnsureOk();
        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((1, 0));

        // Sending an event marks the room read up to it for the sender.
        await SendAsync(alice, roomId, new { msgtype = "m.text", body = "caught up" });
        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((0, 0));
    }

    [Fact]
    public async Task Counts_stay_right_across_syncs_that_add_to_the_counts_of_the_one_before()
    {
        // Each sync keeps its counts and the next counts only what was stored since; reads, own messages and threads
        // must still show, whatever order they come in.
        var (alice, bob, _, roomId) = await GroupAsync();
        var sent = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            sent.Add(await SendAsync(bob, roomId, new { msgtype = "m.text", body = $"first {i}" }));
        }

        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((3, 0));
        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((3, 0));
        for (var i = 0; i < 2; i++)
        {
            sent.Add(await SendAsync(bob, roomId, new { msgtype = "m.text", body = $"second {i}" }));
        }

        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((5, 0));

        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/receipt/m.read/{Uri.EscapeDataString(sent[3])}", new { })).EnsureOk();
        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((1, 0));

        await SendAsync(bob, roomId, JsonDocument.Parse($$$"""{"msgtype": "m.text", "body": "hey", "m.mentions": {"user_ids": ["{{{alice.UserId}}}"]}}""").RootElement);
        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((2, 1));

        await SendAsync(alice, roomId, new { msgtype = "m.text", body = "read it all" });
        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((0, 0));

        await SendAsync(bob, roomId, JsonDocument.Parse($$$"""{"msgtype": "m.text", "body": "in a thread", "m.relates_to": {"rel_type": "m.thread", "event_id": "{{{sent[0]}}}"}}""").RootElement);
        await SendAsync(bob, roomId, new { msgtype = "m.text", body = "main again" });
        var split = await RoomInSyncAsync(alice, roomId, """{"room": {"timeline": {"unread_thread_notifications": true}}}""");
        Unread(split).Should().Be((1, 0));
        split.GetProperty("unread_thread_notifications").GetProperty(sent[0]).GetProperty("notification_count").GetInt64().Should().Be(1);
        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((2, 0));
    }

    [Fact]
    public async Task Thread_notifications_are_counted_per_thread_when_the_filter_asks()
    {
        var (alice, bob, _, roomId) = await GroupAsync();
        var root = await SendAsync(alice, roomId, new { msgtype = "m.text", body = "thread root" });
        await SendAsync(bob, roomId, JsonDocument.Parse($$$"""{"msgtype": "m.text", "body": "in thread", "m.relates_to": {"rel_type": "m.thread", "event_id": "{{{root}}}"}}""").RootElement);
        await SendAsync(bob, roomId, new { msgtype = "m.text", body = "main timeline" });

        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((2, 0));
        var split = await RoomInSyncAsync(alice, roomId, """{"room": {"timeline": {"unread_thread_notifications": true}}}""");
        Unread(split).Should().Be((1, 0));
        split.GetProperty("unread_thread_notifications").GetProperty(root).GetProperty("notification_count").GetInt64().Should().Be(1);

        // A threaded receipt on the main timeline leaves the thread unread.
        var stored = (await alice.GetAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/messages?dir=b&limit=1")).EnsureOk().Json;
        var latest = stored.GetProperty("chunk")[0].GetProperty("event_id").GetString()!;
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/receipt/m.read/{Uri.EscapeDataString(latest)}", new { thread_id = "main" })).EnsureOk();
        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((1, 0));
    }

    [Fact]
    public async Task Notifications_lists_events_with_read_flags_and_highlight_filter()
    {
        var (alice, bob, _, roomId) = await GroupAsync();
        var plain = await SendAsync(bob, roomId, new { msgtype = "m.text", body = "plain" });
        var mention = await SendAsync(bob, roomId, JsonDocument.Parse($$$"""{"msgtype": "m.text", "body": "ping", "m.mentions": {"user_ids": ["{{{alice.UserId}}}"]}}""").RootElement);
        await RoomInSyncAsync(alice, roomId); // waits for evaluation

        var all = (await alice.GetAsync("/_matrix/client/v3/notifications")).EnsureOk().Json.GetProperty("notifications");
        all.EnumerateArray().Select(n => n.GetProperty("event").GetProperty("event_id").GetString()).Should().Equal(mention, plain);
        var first = all[0];
        first.GetProperty("room_id").GetString().Should().Be(roomId);
        first.GetProperty("read").GetBoolean().Should().BeFalse();
        first.TryGetProperty("profile_tag", out _).Should().BeTrue();
        first.GetProperty("actions").EnumerateArray().Select(a => a.ValueKind == JsonValueKind.String ? a.GetString() : a.GetProperty("set_tweak").GetString()).Should().Contain(["notify", "highlight"]);

        var highlights = (await alice.GetAsync("/_matrix/client/v3/notifications?only=highlight")).EnsureOk().Json.GetProperty("notifications");
        highlights.EnumerateArray().Select(n => n.GetProperty("event").GetProperty("event_id").GetString()).Should().Equal(mention);

        var page = (await alice.GetAsync("/_matrix/client/v3/notifications?limit=1")).EnsureOk().Json;
        page.GetProperty("notifications").GetArrayLength().Should().Be(1);
        var next = page.GetProperty("next_token").GetString();
        var second = (await alice.GetAsync("/_matrix/client/v3/notifications?limit=1&from=" + next)).EnsureOk().Json;
        second.GetProperty("notifications")[0].GetProperty("event").GetProperty("event_id").GetString().Should().Be(plain);

        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/receipt/m.read.private/{Uri.EscapeDataString(mention)}", new { })).EnsureOk();
        var afterRead = (await alice.GetAsync("/_matrix/client/v3/notifications")).EnsureOk().Json.GetProperty("notifications");
        afterRead.EnumerateArray().Should().ContainSingle("read notifications that do not highlight are forgotten");
        afterRead[0].GetProperty("read").GetBoolean().Should().BeTrue();

        (await bob.GetAsync("/_matrix/client/v3/notifications")).EnsureOk().Json.GetProperty("notifications").GetArrayLength().Should().Be(0);
        (await alice.GetAsync("/_matrix/client/v3/notifications?from=abc")).Status.Should().Be(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task User_rules_change_what_counts()
    {
        var (alice, bob, _, roomId) = await GroupAsync();
        (await alice.PutAsync("/_matrix/client/v3/pushrules/global/content/cake", new { pattern = "cake", actions = new object[] { "notify", new { set_tweak = "highlight" } } })).EnsureOk();
        (await alice.PutAsync("/_matrix/client/v3/pushrules/global/sender/" + Uri.EscapeDataString(bob.UserId!), new { actions = Array.Empty<string>() })).EnsureOk();
        await SendAsync(bob, roomId, new { msgtype = "m.text", body = "muted sender" });
        await SendAsync(bob, roomId, new { msgtype = "m.text", body = "there is CAKE here" });
        Unread(await RoomInSyncAsync(alice, roomId)).Should().Be((1, 1), "the content rule wins over the sender rule, which mutes the rest");
    }

    [Fact]
    public async Task An_invite_notifies_the_invited_user()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice, new { preset = "private_chat" });
        (await alice.PostAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/invite", new { user_id = bob.UserId })).EnsureOk();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var notifications = (await bob.GetAsync("/_matrix/client/v3/notifications")).EnsureOk().Json.GetProperty("notifications");
            if (notifications.GetArrayLength() > 0)
            {
                var invite = notifications[0].GetProperty("event");
                invite.GetProperty("type").GetString().Should().Be("m.room.member");
                invite.GetProperty("state_key").GetString().Should().Be(bob.UserId);
                invite.GetProperty("content").GetProperty("membership").GetString().Should().Be("invite");
                break;
            }

            DateTime.UtcNow.Should().BeBefore(deadline, "the invite should have notified bob");
            await Task.Delay(100);
        }

        // Joining is bob's own event: it marks the room read up to it, so the invite is no longer unread.
        await JoinAsync(bob, roomId);
        Unread(await RoomInSyncAsync(bob, roomId)).Should().Be((0, 0));
    }

    [Fact]
    public async Task Notifications_still_queued_when_the_server_stops_are_stored_first()
    {
        // Notifications are evaluated after the events' commit, in the background. Holding a lock on the notifications
        // table makes them queue up behind a store that cannot finish; the server is then asked to stop, and the lock is
        // released while it stops. Nothing evaluates those events again after a restart, so the stop must store them.
        var (alice, bob, _, roomId) = await GroupAsync();
        await using var blocker = new Npgsql.NpgsqlConnection(server.Database.ConnectionString);
        await blocker.OpenAsync();
        await using var hold = await blocker.BeginTransactionAsync();
        await using (var lockTable = new Npgsql.NpgsqlCommand("LOCK TABLE notifications IN SHARE MODE", blocker, hold))
        {
            await lockTable.ExecuteNonQueryAsync();
        }

        for (var i = 0; i < 10; i++)
        {
            await SendAsync(bob, roomId, new { msgtype = "m.text", body = $"m{i}" });
        }

        var stopping = server.StopAsync();
        await Task.Delay(TimeSpan.FromMilliseconds(300)); // let the stop begin (an order of steps, not a timing check)
        await hold.CommitAsync();
        await stopping;
        await server.RestartAsync();

        var notifications = (await alice.GetAsync("/_matrix/client/v3/notifications?limit=100")).EnsureOk().Json.GetProperty("notifications");
        notifications.EnumerateArray().Count(n => n.GetProperty("room_id").GetString() == roomId).Should().Be(10);
    }

    [Fact]
    public async Task The_stores_commit_without_a_flush_wait_leaves_no_setting_on_the_pooled_connection()
    {
        // The store commits with synchronous_commit off for its own transaction only. The pool keeps connections as
        // they are (no DISCARD ALL), so a setting that outlived the store would make later event writes on the same
        // connection commit without waiting for the disk. A pool of one connection makes "the same connection" certain.
        await using var database = await TestDatabase.CreateAsync();
        await using var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(TimeProvider.System)
            .AddStorage(database.ConnectionString + ";Maximum Pool Size=1")
            .AddPushStorage()
            .BuildServiceProvider();
        await services.GetRequiredService<MigrationRunner>().MigrateAsync(CancellationToken.None);
        var store = services.GetRequiredService<INotificationStore>();
        var dataSource = services.GetRequiredService<NpgsqlDataSource>();

        // The test clusters may run with synchronous_commit off: the connection's own value is set first. The users
        // and the room must exist, as notifications are stored under their numbers.
        await using (var before = await dataSource.OpenConnectionAsync())
        await using (var set = new NpgsqlCommand(
            "SET synchronous_commit = on; " +
            "INSERT INTO users (user_id, created_ts) VALUES ('@bob:test', 0), ('@alice:test', 0); " +
            "INSERT INTO rooms (room_id, room_version, created_ts) VALUES ('!room:test', '12', 0)", before))
        {
            await set.ExecuteNonQueryAsync();
        }

        await store.AddAsync(
            [new NotificationRow("@bob:test", "!room:test", "$e1", 10, NotificationEvaluator.MainThread, """["notify"]""", false, 1)],
            [new ReadPosition("@alice:test", "!room:test", NotificationEvaluator.MainThread, 10)],
            null, false, CancellationToken.None);

        await using var conn = await dataSource.OpenConnectionAsync();
        await using (var show = new NpgsqlCommand("SHOW synchronous_commit", conn))
        {
            (await show.ExecuteScalarAsync()).Should().Be("on");
        }

        // Nor does its forcing of generic plans (PersistWrites.GenericPlans) outlive its transaction.
        await using (var show = new NpgsqlCommand("SHOW plan_cache_mode", conn))
        {
            (await show.ExecuteScalarAsync()).Should().Be("auto");
        }

        await using var count = new NpgsqlCommand("SELECT count(*) FROM notifications n JOIN users u ON u.user_nid = n.user_nid WHERE u.user_id = '@bob:test'", conn);
        (await count.ExecuteScalarAsync()).Should().Be(1L);
    }

    private static bool HasSound(JsonElement notification) => Tweak(notification, "sound") is not null;

    /// <summary>A highlight tweak whose value is true (or left out, which means true).</summary>
    private static bool Highlights(JsonElement notification) =>
        Tweak(notification, "highlight") is { } tweak && (!tweak.TryGetProperty("value", out var v) || v.ValueKind == JsonValueKind.True);

    private static JsonElement? Tweak(JsonElement notification, string name) =>
        notification.GetProperty("actions").EnumerateArray()
            .Where(a => a.ValueKind == JsonValueKind.Object && a.TryGetProperty("set_tweak", out var t) && t.GetString() == name)
            .Select(a => (JsonElement?)a)
            .FirstOrDefault();

    private async Task<JsonElement> NotificationOfAsync(MatrixClient reader, MatrixClient sender, string roomId, object content)
    {
        var eventId = await SendAsync(sender, roomId, content);
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var latest = (await reader.GetAsync("/_matrix/client/v3/notifications?limit=1")).EnsureOk().Json.GetProperty("notifications");
            if (latest.EnumerateArray().FirstOrDefault() is { ValueKind: JsonValueKind.Object } top && top.GetProperty("event").GetProperty("event_id").GetString() == eventId)
            {
                return top;
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException("no notification for " + eventId);
    }

    [Fact]
    public async Task The_member_count_and_display_names_follow_joins_leaves_and_renames()
    {
        // The evaluator keeps each room's members and display names and updates them from the member events that
        // changed: the one-to-one rule (sound) applies while two are joined, and a display name mention follows renames.
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var carol = await NewUserAsync();
        var roomId = await CreateRoomAsync(alice);
        await JoinAsync(bob, roomId);
        HasSound(await NotificationOfAsync(alice, bob, roomId, new { msgtype = "m.text", body = "two of us" })).Should().BeTrue();

        await JoinAsync(carol, roomId);
        HasSound(await NotificationOfAsync(alice, bob, roomId, new { msgtype = "m.text", body = "three of us" })).Should().BeFalse();

        (await carol.PostAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/leave", new { })).EnsureOk();
        HasSound(await NotificationOfAsync(alice, bob, roomId, new { msgtype = "m.text", body = "two again" })).Should().BeTrue();

        // contains_display_name is no longer among the default rules (v1.17); a user's own rule may still use it.
        await JoinAsync(carol, roomId);
        (await alice.PutAsync("/_matrix/client/v3/pushrules/global/override/my.name", JsonDocument.Parse(
            """{"conditions": [{"kind": "contains_display_name"}], "actions": ["notify", {"set_tweak": "highlight"}]}""").RootElement)).EnsureOk();
        (await alice.PutAsync($"/_matrix/client/v3/profile/{Uri.EscapeDataString(alice.UserId!)}/displayname", new { displayname = "Zebediah" })).EnsureOk();
        (await NotificationOfAsync(alice, bob, roomId, new { msgtype = "m.text", body = "hello zebediah" })).GetProperty("actions").ToString().Should().Contain("highlight");

        (await alice.PutAsync($"/_matrix/client/v3/profile/{Uri.EscapeDataString(alice.UserId!)}/displayname", new { displayname = "Quixote" })).EnsureOk();
        var old = await NotificationOfAsync(alice, bob, roomId, new { msgtype = "m.text", body = "hello zebediah again" });
        Highlights(old).Should().BeFalse();
        var renamed = await NotificationOfAsync(alice, bob, roomId, new { msgtype = "m.text", body = "hello quixote" });
        Highlights(renamed).Should().BeTrue();
    }
}
