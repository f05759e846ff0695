using System.Data.Common;
using Homeserver.Core.Streams;
using Homeserver.Rooms.Writing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Homeserver.Rooms.Tests.Writing;

/// <summary>
/// How the search indexer and the notification evaluator try a failed store again (RecordingCommitConsumer): for as long
/// as the database is unavailable, so that an outage loses no notifications and no search rows; a few times only when the
/// work itself fails, so that it cannot hold every later store.
/// </summary>
public sealed class StoreRetryTests
{
    [Fact]
    public async Task A_store_is_tried_again_for_as_long_as_the_database_is_unavailable()
    {
        var consumer = new Consumer();
        var attempts = 0;

        var failure = await consumer.StoreAsync(_ => ++attempts <= 6 ? throw new DatabaseException(transient: true) : Task.CompletedTask);

        failure.Should().BeNull();
        attempts.Should().Be(7, "six tries failed while the database was unavailable, twice the three allowed for other failures");
    }

    [Fact]
    public async Task A_timeout_counts_as_the_database_unavailable_also_when_wrapped()
    {
        var consumer = new Consumer();
        var attempts = 0;

        var failure = await consumer.StoreAsync(_ => ++attempts <= 4
            ? throw new InvalidOperationException("the command failed", new TimeoutException("no answer"))
            : Task.CompletedTask);

        failure.Should().BeNull();
        attempts.Should().Be(5);
    }

    [Fact]
    public async Task A_failure_of_the_work_itself_is_given_up_after_three_tries()
    {
        var consumer = new Consumer();
        var attempts = 0;

        var failure = await consumer.StoreAsync(_ =>
        {
            attempts++;
            throw new DatabaseException(transient: false); // a constraint the rows break, say
        });

        failure.Should().BeOfType<DatabaseException>();
        attempts.Should().Be(RecordingCommitConsumer<int>.MaxAttempts).And.Be(3);
    }

    [Fact]
    public async Task Stopping_ends_the_retries()
    {
        var consumer = new Consumer();
        using var stop = new CancellationTokenSource();
        var attempts = 0;

        var storing = consumer.StoreAsync(
            _ =>
            {
                if (++attempts == 3)
                {
                    stop.Cancel();
                }

                throw new DatabaseException(transient: true);
            },
            stop.Token);

        await storing.Invoking(s => s).Should().ThrowAsync<OperationCanceledException>();
        attempts.Should().Be(3);
    }

    private sealed class DatabaseException(bool transient) : DbException(transient ? "the database is restarting" : "a constraint was violated")
    {
        public override bool IsTransient => transient;
    }

    /// <summary>A consumer with nothing to consume: only its store retries are used, with a 1 ms first wait.</summary>
    private sealed class Consumer()
        : RecordingCommitConsumer<int>(new StreamPositions(), TimeProvider.System, TimeSpan.Zero, NullLogger.Instance, TimeSpan.FromMilliseconds(1))
    {
        public Task<Exception?> StoreAsync(Func<CancellationToken, Task> store, CancellationToken ct = default) => StoreWithRetriesAsync(store, ct);

        protected override Task RecoverAsync(CancellationToken ct) => Task.CompletedTask;

        protected override Task StoreQueuedAsync(CancellationToken ct) => Task.CompletedTask;

        protected override Task RecordAsync(long through, CancellationToken ct) => Task.CompletedTask;
    }
}
