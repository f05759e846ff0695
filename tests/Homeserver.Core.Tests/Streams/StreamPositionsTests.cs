using Homeserver.Core.Streams;
using Microsoft.Extensions.Time.Testing;

namespace Homeserver.Core.Tests.Streams;

public sealed class StreamPositionsTests
{
    [Fact]
    public void The_current_position_stops_below_a_reservation_still_in_flight()
    {
        var positions = new StreamPositions(10);
        var earlier = positions.Reserve();
        var later = positions.Reserve(3);
        later.Dispose();
        positions.Current.Should().Be(10);

        earlier.Dispose();
        positions.Current.Should().Be(14);
    }

    [Fact]
    public void A_position_is_reached_only_when_everything_before_it_is_released()
    {
        var positions = new StreamPositions();
        var earlier = positions.Reserve();
        var own = positions.Reserve();
        var reached = positions.WhenReachedAsync(own.Last);

        own.Dispose();
        reached.IsCompleted.Should().BeFalse("position 1 is still being written");

        earlier.Dispose();
        reached.IsCompleted.Should().BeTrue();
        positions.WhenReachedAsync(own.Last).IsCompleted.Should().BeTrue();
    }

    [Fact]
    public void Waiters_are_released_in_order_of_their_positions_as_the_stream_advances()
    {
        var positions = new StreamPositions();
        var first = positions.Reserve();
        var second = positions.Reserve();
        var third = positions.Reserve();
        var atSecond = positions.WhenReachedAsync(2);
        var atThird = positions.WhenReachedAsync(3);

        second.Dispose();
        first.Dispose();
        atSecond.IsCompleted.Should().BeTrue();
        atThird.IsCompleted.Should().BeFalse();

        third.Dispose();
        atThird.IsCompleted.Should().BeTrue();
    }

    [Fact]
    public async Task A_write_waits_until_it_is_readable()
    {
        var positions = new StreamPositions(0, new FakeTimeProvider());
        var earlier = positions.Reserve();
        var own = positions.Reserve();
        own.Dispose();
        var wait = positions.WaitUntilReadableAsync(own.Last, CancellationToken.None);
        wait.IsCompleted.Should().BeFalse();

        earlier.Dispose();
        await wait.WaitAsync(TimeSpan.FromSeconds(10));
        positions.Current.Should().Be(2);
    }

    [Fact]
    public async Task A_write_stuck_behind_a_slow_one_answers_after_the_cap()
    {
        var time = new FakeTimeProvider();
        var positions = new StreamPositions(0, time);
        using var stuck = positions.Reserve();
        var own = positions.Reserve();
        own.Dispose();
        var wait = positions.WaitUntilReadableAsync(own.Last, CancellationToken.None);

        time.Advance(StreamPositions.OwnWriteWait - TimeSpan.FromMilliseconds(1));
        wait.IsCompleted.Should().BeFalse();
        time.Advance(TimeSpan.FromMilliseconds(1));
        await wait.WaitAsync(TimeSpan.FromSeconds(10));
        positions.Current.Should().Be(0, "the answer went out, but the position stays held back for readers");
    }

    [Fact]
    public async Task Nothing_written_means_nothing_to_wait_for()
    {
        var positions = new StreamPositions(5);
        using var inFlight = positions.Reserve();
        await positions.WaitUntilReadableAsync(0, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        positions.WhenReachedAsync(5).IsCompleted.Should().BeTrue();
    }

    [Fact]
    public async Task Reseeding_after_start_up_releases_waiters_it_reaches()
    {
        var positions = new StreamPositions();
        var reached = positions.WhenReachedAsync(40);
        positions.Seed(40);
        await reached.WaitAsync(TimeSpan.FromSeconds(10));
        positions.Current.Should().Be(40);
    }
}
