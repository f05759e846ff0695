namespace Homeserver.Users.Tests;

public sealed class LastSeenTrackerTests
{
    private readonly FakeSessionStore _store = new();

    [Fact]
    public async Task Records_stay_in_memory_until_a_flush_writes_them_in_one_batch()
    {
        var tracker = new LastSeenTracker(_store);
        tracker.Record("@a:x", "ONE", "10.0.0.1", "agent", 1000);
        tracker.Record("@a:x", "TWO", "10.0.0.2", "agent", 1000);
        _store.LastSeenBatches.Should().BeEmpty();

        (await tracker.FlushAsync(CancellationToken.None)).Should().Be(2);
        _store.LastSeenBatches.Should().ContainSingle().Which.Should().HaveCount(2);
        tracker.PendingCount.Should().Be(0);
        (await tracker.FlushAsync(CancellationToken.None)).Should().Be(0);
        _store.LastSeenBatches.Should().HaveCount(1);
    }

    [Fact]
    public void Repeated_requests_within_a_second_from_the_same_place_change_nothing_but_a_new_address_does()
    {
        var tracker = new LastSeenTracker(_store);
        tracker.Record("@a:x", "D", "10.0.0.1", "agent", 1000);
        tracker.Record("@a:x", "D", "10.0.0.1", "agent", 1500);
        tracker.Pending("@a:x", "D")!.Ts.Should().Be(1000);
        tracker.Record("@a:x", "D", "10.0.0.9", "agent", 1600);
        tracker.Pending("@a:x", "D")!.Ip.Should().Be("10.0.0.9");
        tracker.Record("@a:x", "D", "10.0.0.9", "agent", 2700);
        tracker.Pending("@a:x", "D")!.Ts.Should().Be(2700);
    }

    [Fact]
    public void The_overlay_shows_the_newer_of_stored_and_pending_data()
    {
        var tracker = new LastSeenTracker(_store);
        var stored = new DeviceRecord("@a:x", "D", "Phone", 5000, "10.0.0.1", "old");
        tracker.Record("@a:x", "D", "10.0.0.2", "new", 4000);
        tracker.Overlay(stored).Should().Be(stored);
        tracker.Record("@a:x", "D", "10.0.0.3", "newer", 6000);
        tracker.Overlay(stored).Should().Be(stored with { LastSeenTs = 6000, LastSeenIp = "10.0.0.3", LastSeenUserAgent = "newer" });
    }

    [Fact]
    public async Task Forgotten_devices_are_not_flushed()
    {
        var tracker = new LastSeenTracker(_store);
        tracker.Record("@a:x", "ONE", "ip", null, 1);
        tracker.Record("@a:x", "TWO", "ip", null, 1);
        tracker.Record("@b:x", "ONE", "ip", null, 1);
        tracker.Forget("@a:x", ["ONE"]);
        await tracker.FlushAsync(CancellationToken.None);
        _store.LastSeenBatches.Single().Select(s => (s.UserId, s.DeviceId)).Should().BeEquivalentTo([("@a:x", "TWO"), ("@b:x", "ONE")]);
        tracker.Record("@b:x", "ONE", "ip", null, 1);
        tracker.Forget("@b:x", null);
        tracker.PendingCount.Should().Be(0);
    }
}
