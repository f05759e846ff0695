using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.RegularExpressions;
using FluentAssertions;
using Homeserver.Core.Streams;
using Homeserver.Rooms.Persistence;
using Homeserver.Storage.RoomFeatures;
using Homeserver.Storage.Rooms;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary>
/// The reads that walk an index in its order (timeline pages, sync's latest events, the room's last event before a
/// position, backfill's oldest events, the event nearest a time, a page of threads) keep that plan whatever PostgreSQL's statistics say:
/// here the events table of 20,000 events was never analyzed (autovacuum is off for it), so the planner expects a few
/// dozen rows of the room and, left to itself, fetches every event on one side of the position through a bitmap and
/// sorts them (StoredEventQueries.NoSort). Each test runs the repository's own query and reads the plan PostgreSQL ran
/// it with (auto_explain, sent back as a notice): if a query lost its setting, or a change made it need a sort, these
/// fail.
/// </summary>
public sealed class TimelinePlanTests : IAsyncLifetime
{
    private const int Events = 20_000;

    // auto_explain's plan of every statement the repositories run, as a notice to the client (a superuser's session).
    private const string ExplainEverything =
        "-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_level=notice -c auto_explain.log_format=json -c auto_explain.log_analyze=on -c auto_explain.log_timing=off";

    // The planner's penalty for a node it was told not to use (disable_cost, 1e10); a plan that carries it also crosses
    // jit_above_cost and is compiled by the JIT.
    private const double DisabledNodeCost = 1e9;

    private readonly ConcurrentQueue<string> _notices = new();
    private MigratedDatabase _database = null!;
    private NpgsqlDataSource _explained = null!;
    private RoomReadRepository _reads = null!;
    private RoomFeatureRepository _features = null!;
    private RelationRepository _relations = null!;

    // Events $e1..$e20000 of one room: depth, stream position and time are the number, each event's prev event the one
    // before it ($e0, never stored, is the room's one gap).
    public async Task InitializeAsync()
    {
        _database = await MigratedDatabase.CreateAsync($$$"""
            ALTER TABLE events SET (autovacuum_enabled = false);
            ALTER TABLE event_prev_events SET (autovacuum_enabled = false);
            INSERT INTO rooms (room_nid, room_id, room_version, created_ts) VALUES (1, '!busy:test', '10', 0);
            INSERT INTO events (event_id, room_nid, event_type, sender, depth, origin_server_ts, stream_ordering, topological_ordering, json)
            SELECT '$e' || s, 1, 'm.room.message', '@alice:test', s, s, s, s,
                   format('{"type":"m.room.message","room_id":"!busy:test","sender":"@alice:test","content":{"body":"%s"},"depth":%s,"origin_server_ts":%s,"prev_events":["$e%s"],"auth_events":[],"hashes":{"sha256":"AAAA"},"signatures":{}}', s, s, s, s - 1)
            FROM generate_series(1, {{{Events}}}) AS s;
            INSERT INTO event_prev_events (event_nid, prev_event_id) SELECT event_nid, '$e' || (depth - 1) FROM events;
            ALTER TABLE threads SET (autovacuum_enabled = false);
            INSERT INTO threads (room_nid, thread_id, latest_event_nid, topological_ordering, stream_ordering)
            SELECT 1, '$e' || s, s * 10, s * 10, s * 10 FROM generate_series(1, {{{Events / 10}}}) AS s;
            ALTER TABLE thread_participants SET (autovacuum_enabled = false);
            INSERT INTO thread_participants (room_nid, user_id, thread_id)
            SELECT 1, '@alice:test', '$e' || s FROM generate_series(1, {{{Events / 10}}}) AS s
            UNION ALL SELECT 1, '@bob:test', t FROM unnest(ARRAY['$e5', '$e1000', '$e1500']) AS t;
            """);

        var builder = new NpgsqlDataSourceBuilder(new NpgsqlConnectionStringBuilder(_database.ConnectionString) { Options = ExplainEverything }.ConnectionString);
        builder.UseLoggerFactory(LoggerFactory.Create(logging => logging.SetMinimumLevel(LogLevel.Trace).AddProvider(new NoticeCollector(_notices))));
        _explained = builder.Build();
        _reads = _database.Create<RoomReadRepository>(_explained);
        _features = _database.Create<RoomFeatureRepository>(_explained);
        _relations = _database.Create<RelationRepository>(_explained);
    }

    public async Task DisposeAsync()
    {
        await _explained.DisposeAsync();
        await _database.DisposeAsync();
    }

    [Fact]
    public async Task A_page_back_from_the_middle_of_the_room_walks_the_depth_index_without_a_sort()
    {
        var page = await _reads.PaginateAsync(1, new PaginationToken(10_000, 10_000), null, backwards: true, 50, CancellationToken.None);

        page.Select(e => e.StreamOrdering).Should().Equal(Enumerable.Range(9_950, 50).Reverse().Select(i => (long?)i));
        PlanOf(RoomReadRepository.SelectBackwardsTopological).Should().Contain("events_room_topological").And.NotContain("\"Sort\"").And.NotContain("Bitmap");
    }

    [Fact]
    public async Task A_page_back_from_syncs_prev_batch_walks_the_depth_index_without_a_sort()
    {
        // Sync's prev_batch is a stream-only token just below the oldest event it showed.
        var page = await _reads.PaginateAsync(1, new PaginationToken(null, Events - 10), null, backwards: true, 50, CancellationToken.None);

        page.Select(e => e.StreamOrdering).Should().Equal(Enumerable.Range(Events - 59, 50).Reverse().Select(i => (long?)i));
        PlanOf(RoomReadRepository.SelectBackwardsStream).Should().Contain("events_room_topological").And.NotContain("\"Sort\"").And.NotContain("Bitmap");
    }

    [Fact]
    public async Task The_latest_events_of_a_sync_walk_the_stream_index_without_a_sort()
    {
        var latest = await _reads.GetLatestEventsAsync(1, 0, 10_000, 50, CancellationToken.None);

        latest.Select(e => e.StreamOrdering).Should().Equal(Enumerable.Range(9_951, 50).Reverse().Select(i => (long?)i));
        PlanOf(RoomReadRepository.SelectLatest).Should().NotContain("\"Sort\"").And.NotContain("Bitmap");
    }

    [Fact]
    public async Task The_rooms_last_event_at_a_sync_position_walks_the_stream_index_without_a_sort()
    {
        var last = await _reads.GetLastEventAtAsync(1, 10_000, CancellationToken.None);

        last!.Event.EventId.Should().Be("$e10000");
        PlanOf(RoomReadRepository.SelectLastAt).Should().Contain("events_room_stream").And.NotContain("\"Sort\"").And.NotContain("Bitmap");
    }

    [Fact]
    public async Task Backfills_oldest_events_are_read_along_the_depth_index_and_ordered_without_a_sort()
    {
        var gaps = await _reads.GetBackwardExtremitiesAsync(1, CancellationToken.None);

        gaps.Should().Equal(("$e0", 1L));
        PlanOf(RoomReadRepository.SelectBackwardExtremities).Should().Contain("events_room_topological").And.NotContain("\"Sort\"").And.NotContain("Bitmap");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_event_nearest_a_time_walks_the_time_index_without_a_full_sort(bool forwards)
    {
        var found = await _features.FindEventByTimestampAsync(1, 10_000, forwards, CancellationToken.None);

        found!.Event.EventId.Should().Be("$e10000");
        PlanOf(forwards ? RoomFeatureRepository.SelectAfterTs : RoomFeatureRepository.SelectBeforeTs)
            .Should().Contain("events_room_ts").And.NotContain("\"Sort\"").And.NotContain("Bitmap");
    }

    [Fact]
    public async Task A_page_of_threads_walks_their_latest_replies_index_without_a_sort()
    {
        // Threads $e1..$e2000, the latest reply of $eN being $e(10N).
        var threads = await _relations.GetThreadsAsync(1, participant: null, before: null, 5, CancellationToken.None);

        threads.Select(t => t.RootEventId).Should().Equal("$e2000", "$e1999", "$e1998", "$e1997", "$e1996");
        PlanOf(RelationRepository.SelectThreads).Should().Contain("threads_room_latest").And.NotContain("\"Sort\"").And.NotContain("Bitmap");
    }

    [Fact]
    public async Task A_page_of_a_users_threads_reads_their_own_rows_not_every_thread()
    {
        // Bob took part in 3 of the 2,000 threads; walking the threads in order would read nearly all of them.
        var threads = await _relations.GetThreadsAsync(1, participant: "@bob:test", before: null, 5, CancellationToken.None);

        threads.Select(t => t.RootEventId).Should().Equal("$e1500", "$e1000", "$e5");
        var plan = PlanOf(RelationRepository.SelectParticipatedThreads);
        plan.Should().Contain("thread_participants_pkey");
        JsonDocument.Parse(plan).RootElement.GetProperty("Actual Rows").GetInt32().Should().Be(3);
        MaxRowsRead(plan).Should().BeLessThan(10, "only bob's rows and their threads are read");
    }

    [Fact]
    public async Task A_page_of_the_threads_of_a_user_in_all_of_them_is_in_order()
    {
        var first = await _relations.GetThreadsAsync(1, participant: "@alice:test", before: null, 3, CancellationToken.None);
        var next = await _relations.GetThreadsAsync(1, participant: "@alice:test", before: first[^1].Latest, 3, CancellationToken.None);

        first.Concat(next).Select(t => t.RootEventId).Should().Equal("$e2000", "$e1999", "$e1998", "$e1997", "$e1996", "$e1995");
    }

    /// <summary>The most rows any node of <paramref name="plan"/> produced (per loop, times its loops).</summary>
    private static long MaxRowsRead(string plan)
    {
        static long Walk(JsonElement node)
        {
            var rows = node.GetProperty("Actual Rows").GetInt64() * node.GetProperty("Actual Loops").GetInt64();
            if (node.TryGetProperty("Plans", out var children))
            {
                foreach (var child in children.EnumerateArray())
                {
                    rows = Math.Max(rows, Walk(child));
                }
            }

            return rows;
        }

        return Walk(JsonDocument.Parse(plan).RootElement);
    }

    /// <summary>
    /// The plan auto_explain reported for <paramref name="sql"/>, once, as JSON text; none of the plans reported carries
    /// the penalty of a disabled node.
    /// </summary>
    private string PlanOf(string sql)
    {
        var plans = _notices.Select(Parse).Where(p => p is not null).Select(p => p!.Value).ToList();
        plans.Should().NotBeEmpty("auto_explain reports every statement's plan");
        foreach (var plan in plans)
        {
            plan.GetProperty("Plan").GetProperty("Total Cost").GetDouble().Should().BeLessThan(DisabledNodeCost, plan.GetProperty("Query Text").GetString());
        }

        // Npgsql sends Dapper's named parameters as positional ones.
        var text = new Regex(Regex.Replace(Regex.Escape(sql.Trim()), "@[A-Za-z]+", @"\$\d+"));
        var matching = plans.Where(p => text.IsMatch(p.GetProperty("Query Text").GetString()!)).ToList();
        matching.Should().ContainSingle("the repository ran the query once (it ran {0})", string.Join("\n---\n", plans.Select(p => p.GetProperty("Query Text").GetString())));
        return matching[0].GetProperty("Plan").ToString();
    }

    private static JsonElement? Parse(string notice)
    {
        // "duration: 0.123 ms  plan:\n{ ... }"
        var start = notice.IndexOf('{', StringComparison.Ordinal);
        return start < 0 ? null : JsonDocument.Parse(notice[start..]).RootElement.Clone();
    }

    /// <summary>Every message Npgsql logs (the server's notices among them).</summary>
    private sealed class NoticeCollector(ConcurrentQueue<string> messages) : ILoggerProvider, ILogger
    {
        public ILogger CreateLogger(string categoryName) => this;

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            messages.Enqueue(formatter(state, exception));
    }
}
