using Homeserver.Push;
using Homeserver.Push.Notifications;
using Homeserver.Storage;
using Homeserver.Storage.Push;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary>
/// The notification store against a real database: rows are stored under user and room numbers and the event's stream
/// ordering, and read back with their IDs; migration 0011 carries the rows of the text-keyed tables over.
/// </summary>
public sealed class NotificationStoreTests
{
    private const string Main = NotificationEvaluator.MainThread;

    private static async Task<ServiceProvider> ServicesAsync(TestDatabase database, bool migrate = true)
    {
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(TimeProvider.System)
            .AddStorage(database.ConnectionString)
            .AddPushStorage()
            .BuildServiceProvider();
        if (migrate)
        {
            await services.GetRequiredService<MigrationRunner>().MigrateAsync(CancellationToken.None);
        }

        return services;
    }

    private static Task ExecuteAsync(NpgsqlDataSource db, string sql) => RoomTestHelpers.ExecuteAsync(db, sql);

    /// <summary>Two users, a room, and three events in it at stream orderings 10, 11 and 12.</summary>
    private const string Fixture = """
        INSERT INTO users (user_id, created_ts) VALUES ('@alice:test', 0), ('@bob:test', 0);
        INSERT INTO rooms (room_id, room_version, created_ts) VALUES ('!room:test', '12', 0);
        INSERT INTO events (event_id, room_nid, event_type, sender, depth, origin_server_ts, stream_ordering, topological_ordering, json)
        SELECT '$e' || s, r.room_nid, 'm.room.message', '@alice:test', s, s, s, s, '{}'
        FROM rooms r, generate_series(10, 12) AS s WHERE r.room_id = '!room:test';
        """;

    /// <summary>A migrated database holding <see cref="Fixture"/>, and the notification store over it.</summary>
    private sealed class FixtureStore(TestDatabase database, ServiceProvider services) : IAsyncDisposable
    {
        public INotificationStore Store { get; } = services.GetRequiredService<INotificationStore>();

        public static async Task<FixtureStore> CreateAsync()
        {
            var database = await TestDatabase.CreateAsync();
            var services = await ServicesAsync(database);
            await ExecuteAsync(services.GetRequiredService<NpgsqlDataSource>(), Fixture);
            return new FixtureStore(database, services);
        }

        public async ValueTask DisposeAsync()
        {
            await services.DisposeAsync();
            await database.DisposeAsync();
        }
    }

    private static NotificationRow Row(string userId, int stream, bool highlight) =>
        new(userId, "!room:test", "$e" + stream, stream, Main, highlight ? """["notify",{"set_tweak":"highlight"}]""" : """["notify"]""", highlight, 1000 + stream);

    [Fact]
    public async Task Stored_rows_are_read_back_with_their_ids_counted_and_dropped_once_read()
    {
        await using var fixture = await FixtureStore.CreateAsync();
        var store = fixture.Store;

        // A user with no account here (and so no number) has no rows stored; the batch still stores the others.
        await store.AddAsync(
            [Row("@bob:test", 10, false), Row("@bob:test", 11, true), Row("@bob:test", 12, false), Row("@nobody:test", 12, false)],
            [],
            null, false, CancellationToken.None);

        var all = await store.GetNotificationsAsync("@bob:test", null, 10, false, CancellationToken.None);
        all.Select(n => (n.Row.EventId, n.Row.RoomId, n.Row.StreamOrdering, n.Row.Highlight, n.Read)).Should().Equal(
            ("$e12", "!room:test", 12L, false, false), ("$e11", "!room:test", 11L, true, false), ("$e10", "!room:test", 10L, false, false));
        all[1].Row.ActionsJson.Should().Be("""["notify",{"set_tweak":"highlight"}]""");
        (await store.GetNotificationsAsync("@nobody:test", null, 10, false, CancellationToken.None)).Should().BeEmpty();

        var counts = await store.GetUnreadCountsAsync("@bob:test", ["!room:test", "!unknown:test"], 100, CancellationToken.None);
        counts.Should().ContainSingle().Which.Should().Be(new UnreadCount("!room:test", Main, 3, 1));
        (await store.GetBadgeCountAsync("@bob:test", groupByRoom: false, CancellationToken.None)).Should().Be(3);
        (await store.GetBadgeCountAsync("@bob:test", groupByRoom: true, CancellationToken.None)).Should().Be(1);

        // Reading up to 11 drops the read row that does not highlight, keeps the highlight as read, and leaves 12 unread.
        (await store.MarkReadAsync(new ReadPosition("@bob:test", "!room:test", string.Empty, 11), CancellationToken.None)).Should().BeTrue();
        (await store.MarkReadAsync(new ReadPosition("@bob:test", "!room:test", string.Empty, 10), CancellationToken.None)).Should().BeFalse();
        (await store.GetNotificationsAsync("@bob:test", null, 10, false, CancellationToken.None))
            .Select(n => (n.Row.EventId, n.Read)).Should().Equal(("$e12", false), ("$e11", true));
        (await store.GetUnreadCountsAsync("@bob:test", ["!room:test"], 100, CancellationToken.None))
            .Should().ContainSingle().Which.Should().Be(new UnreadCount("!room:test", Main, 1, 0));
        (await store.GetUnreadAfterAsync("@bob:test", 0, 10, CancellationToken.None)).Select(r => r.EventId).Should().Equal("$e12");

        // A read position that arrives with a batch moves in the same transaction.
        await store.AddAsync([], [new ReadPosition("@bob:test", "!room:test", string.Empty, 12)], null, false, CancellationToken.None);
        (await store.GetUnreadAfterAsync("@bob:test", 0, 10, CancellationToken.None)).Should().BeEmpty();
        (await store.GetBadgeCountAsync("@bob:test", groupByRoom: false, CancellationToken.None)).Should().Be(0);
    }

    [Fact]
    public async Task Rows_a_read_position_of_the_same_batch_covers_are_read_on_arrival_and_not_stored_unless_they_highlight()
    {
        await using var fixture = await FixtureStore.CreateAsync();
        var store = fixture.Store;

        // Bob's own send at 11 moves his main-timeline position there in the same batch (as the evaluator does for a
        // sender): his row for 10 is read on arrival, his highlight at 11 is kept as read. His row for 12 is in a thread,
        // which a main-timeline position does not cover. Alice has no position in the batch.
        await store.AddAsync(
            [Row("@bob:test", 10, false), Row("@bob:test", 11, true), Row("@bob:test", 12, false) with { ThreadId = "$root" }, Row("@alice:test", 10, false)],
            [new ReadPosition("@bob:test", "!room:test", Main, 11)],
            null, false, CancellationToken.None);

        (await store.GetNotificationsAsync("@bob:test", null, 10, false, CancellationToken.None))
            .Select(n => (n.Row.EventId, n.Row.ThreadId, n.Read)).Should().Equal(("$e12", "$root", false), ("$e11", Main, true));
        (await store.GetUnreadCountsAsync("@bob:test", ["!room:test"], 100, CancellationToken.None))
            .Should().ContainSingle().Which.Should().Be(new UnreadCount("!room:test", "$root", 1, 0));
        (await store.GetNotificationsAsync("@alice:test", null, 10, false, CancellationToken.None)).Should().ContainSingle();

        // A row that arrives after its user has read past it, with a position for the whole room (thread '') that does not
        // move, is read on arrival too: it is not stored (written, it would stay until pruned, as no position passes it).
        (await store.MarkReadAsync(new ReadPosition("@alice:test", "!room:test", string.Empty, 12), CancellationToken.None)).Should().BeTrue();
        await store.AddAsync(
            [Row("@alice:test", 11, false) with { ThreadId = "$root" }],
            [new ReadPosition("@alice:test", "!room:test", string.Empty, 12)],
            null, false, CancellationToken.None);
        (await store.GetNotificationsAsync("@alice:test", null, 10, false, CancellationToken.None)).Should().BeEmpty();
        (await store.GetBadgeCountAsync("@alice:test", groupByRoom: false, CancellationToken.None)).Should().Be(0);
    }

    [Fact]
    public async Task Every_read_position_of_a_call_moves_and_drops_only_the_rows_it_passed()
    {
        await using var fixture = await FixtureStore.CreateAsync();
        var store = fixture.Store;
        await store.AddAsync(
            [Row("@bob:test", 10, false), Row("@bob:test", 11, false), Row("@bob:test", 12, false) with { ThreadId = "$root" },
             Row("@alice:test", 10, false), Row("@alice:test", 11, false), Row("@alice:test", 12, false)],
            [],
            null, false, CancellationToken.None);
        (await store.MarkReadAsync(new ReadPosition("@alice:test", "!room:test", string.Empty, 10), CancellationToken.None)).Should().BeTrue();

        // Bob's main timeline twice (the later position wins), his thread, and Alice's whole room, which moves from 10 to
        // 11; a position that does not move (Alice's main timeline at 0) drops nothing.
        await store.AddAsync(
            [],
            [
                new ReadPosition("@bob:test", "!room:test", Main, 11), new ReadPosition("@bob:test", "!room:test", Main, 10),
                new ReadPosition("@bob:test", "!room:test", "$root", 12), new ReadPosition("@alice:test", "!room:test", string.Empty, 11),
                new ReadPosition("@alice:test", "!room:test", Main, 0),
            ],
            null, false, CancellationToken.None);

        (await store.GetNotificationsAsync("@bob:test", null, 10, false, CancellationToken.None)).Should().BeEmpty();
        (await store.GetNotificationsAsync("@alice:test", null, 10, false, CancellationToken.None))
            .Select(n => (n.Row.EventId, n.Read)).Should().Equal(("$e12", false));
        (await store.MarkReadAsync(new ReadPosition("@bob:test", "!room:test", Main, 11), CancellationToken.None)).Should().BeFalse();
        (await store.MarkReadAsync(new ReadPosition("@alice:test", "!room:test", string.Empty, 12), CancellationToken.None)).Should().BeTrue();
        (await store.GetBadgeCountAsync("@alice:test", groupByRoom: false, CancellationToken.None)).Should().Be(0);
    }

    [Fact]
    public async Task A_repeated_notification_fails_a_live_store_and_is_kept_once_by_a_recovering_one_with_the_position()
    {
        await using var fixture = await FixtureStore.CreateAsync();
        var store = fixture.Store;
        await store.AddAsync([Row("@bob:test", 10, false)], [], 10, false, CancellationToken.None);

        // Live, a repeat is a bug, and nothing of the store is kept; the recovery evaluates events again and keeps the
        // stored row, adding the new one and moving the recorded position.
        var live = () => store.AddAsync([Row("@bob:test", 10, true), Row("@bob:test", 11, false)], [], 11, false, CancellationToken.None);
        await live.Should().ThrowAsync<PostgresException>();
        (await store.GetEvaluatedThroughAsync(CancellationToken.None)).Should().Be(10);

        await store.AddAsync([Row("@bob:test", 10, true), Row("@bob:test", 11, false)], [], 11, true, CancellationToken.None);
        (await store.GetNotificationsAsync("@bob:test", null, 10, false, CancellationToken.None))
            .Select(n => (n.Row.EventId, n.Row.Highlight)).Should().Equal(("$e11", false), ("$e10", false));
        (await store.GetEvaluatedThroughAsync(CancellationToken.None)).Should().Be(11);
    }

    [Fact]
    public async Task Migration_0011_carries_the_text_keyed_rows_and_read_positions_over()
    {
        await using var database = await TestDatabase.CreateAsync();
        await using var services = await ServicesAsync(database, migrate: false);
        var db = services.GetRequiredService<NpgsqlDataSource>();

        // The schema as the previous release left it: every migration before 0011, recorded as applied.
        await PreviousSchema.ApplyBeforeAsync(db, 11);

        await ExecuteAsync(db, Fixture + """
            INSERT INTO event_push_actions (user_id, room_id, event_id, stream_ordering, thread_id, actions, highlight, ts) VALUES
                ('@bob:test', '!room:test', '$e11', 11, 'main', '["notify",{"set_tweak":"highlight"}]', true, 1011),
                ('@bob:test', '!room:test', '$e12', 12, 'main', '["notify"]', false, 1012),
                ('@alice:test', '!room:test', '$e12', 12, 'main', '["notify"]', false, 1012);
            INSERT INTO push_read_positions (user_id, room_id, thread_id, stream_ordering) VALUES ('@bob:test', '!room:test', '', 11);
            """);

        (await services.GetRequiredService<MigrationRunner>().MigrateAsync(CancellationToken.None)).Should().BeGreaterThan(0);

        var store = services.GetRequiredService<INotificationStore>();
        (await store.GetNotificationsAsync("@bob:test", null, 10, false, CancellationToken.None))
            .Select(n => (n.Row.EventId, n.Row.RoomId, n.Row.Highlight, n.Row.Ts, n.Read)).Should().Equal(
                ("$e12", "!room:test", false, 1012L, false), ("$e11", "!room:test", true, 1011L, true));
        (await store.GetUnreadCountsAsync("@bob:test", ["!room:test"], 100, CancellationToken.None))
            .Should().ContainSingle().Which.Should().Be(new UnreadCount("!room:test", Main, 1, 0));
        (await store.GetBadgeCountAsync("@alice:test", groupByRoom: false, CancellationToken.None)).Should().Be(1);

        // The carried-over position still moves only forward.
        (await store.MarkReadAsync(new ReadPosition("@bob:test", "!room:test", string.Empty, 11), CancellationToken.None)).Should().BeFalse();
        (await store.MarkReadAsync(new ReadPosition("@bob:test", "!room:test", string.Empty, 12), CancellationToken.None)).Should().BeTrue();
        (await store.GetBadgeCountAsync("@bob:test", groupByRoom: false, CancellationToken.None)).Should().Be(0);
    }
}
