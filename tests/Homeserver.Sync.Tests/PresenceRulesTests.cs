using Homeserver.Sync.Presence;

namespace Homeserver.Sync.Tests;

/// <summary>The presence timers, checked without waiting: time is a parameter of the rules.</summary>
public sealed class PresenceRulesTests
{
    private static readonly PresenceTimings Timings = new();
    private const long Minute = 60_000;
    private const string Alice = "@alice:example.org";

    private static UserPresence Online(long lastActive, long lastSync) =>
        new(Alice, PresenceStates.Online, null, lastActive, lastSync, CurrentlyActive: true, StreamId: 1);

    [Fact]
    public void An_online_user_who_keeps_syncing_but_does_nothing_for_five_minutes_becomes_unavailable()
    {
        var devices = new Dictionary<string, DevicePresence> { ["D1"] = new(PresenceStates.Online, 0, 6 * Minute) };
        var next = PresenceRules.HandleTimeout(Online(0, 6 * Minute), devices, new HashSet<string> { "D1" }, 6 * Minute, Timings);
        next.State.Should().Be(PresenceStates.Unavailable);
        next.CurrentlyActive.Should().BeFalse();
        devices["D1"].State.Should().Be(PresenceStates.Unavailable);
    }

    [Fact]
    public void A_user_who_stopped_syncing_goes_offline_after_thirty_seconds()
    {
        var devices = new Dictionary<string, DevicePresence> { ["D1"] = new(PresenceStates.Online, 0, 0) };
        var syncing = new HashSet<string>();
        PresenceRules.HandleTimeout(Online(0, 0), new Dictionary<string, DevicePresence>(devices), syncing, 29_000, Timings).State.Should().Be(PresenceStates.Online);
        var next = PresenceRules.HandleTimeout(Online(0, 0), devices, syncing, 31_000, Timings);
        next.State.Should().Be(PresenceStates.Offline);
        devices.Should().BeEmpty();
    }

    [Fact]
    public void A_user_with_a_sync_in_progress_never_goes_offline()
    {
        var devices = new Dictionary<string, DevicePresence> { ["D1"] = new(PresenceStates.Online, 0, 0) };
        var next = PresenceRules.HandleTimeout(Online(0, 0), devices, new HashSet<string> { "D1" }, 10 * Minute, Timings);
        next.State.Should().Be(PresenceStates.Unavailable, "idle, but still connected");
    }

    [Fact]
    public void The_most_present_device_wins_and_ties_go_to_the_most_recently_active()
    {
        PresenceRules.Combine([new(PresenceStates.Unavailable, 10, 0), new(PresenceStates.Online, 5, 0)]).Should().Be(PresenceStates.Online);
        PresenceRules.Combine([new(PresenceStates.Offline, 10, 0), new(PresenceStates.Unavailable, 5, 0)]).Should().Be(PresenceStates.Unavailable);
        PresenceRules.Combine([]).Should().Be(PresenceStates.Offline);
    }

    [Fact]
    public void Currently_active_holds_for_a_minute_after_activity_while_online()
    {
        var p = Online(0, 0) with { CurrentlyActive = false };
        PresenceRules.WithCurrentlyActive(p, 59_000, Timings).CurrentlyActive.Should().BeTrue();
        PresenceRules.WithCurrentlyActive(p with { CurrentlyActive = true }, 61_000, Timings).CurrentlyActive.Should().BeFalse();
        PresenceRules.WithCurrentlyActive(p with { State = PresenceStates.Unavailable }, 1_000, Timings).CurrentlyActive.Should().BeFalse();
    }

    [Fact]
    public void Changes_of_state_or_status_are_announced_but_bumps_while_currently_active_are_not()
    {
        var before = Online(0, 0);
        PresenceRules.ShouldNotify(before, before with { State = PresenceStates.Unavailable }, Timings).Should().BeTrue();
        PresenceRules.ShouldNotify(before, before with { StatusMsg = "hi" }, Timings).Should().BeTrue();
        PresenceRules.ShouldNotify(before, before with { CurrentlyActive = false }, Timings).Should().BeTrue();
        PresenceRules.ShouldNotify(before, before with { LastActiveTs = 5 * Minute }, Timings).Should().BeFalse("still currently active");
        PresenceRules.ShouldNotify(before, before with { LastActiveTs = 30_000 }, Timings).Should().BeFalse();

        var idle = before with { State = PresenceStates.Unavailable, CurrentlyActive = false };
        PresenceRules.ShouldNotify(idle, idle with { LastActiveTs = 2 * Minute }, Timings).Should().BeTrue();
        PresenceRules.ShouldNotify(idle, idle with { LastActiveTs = 30_000 }, Timings).Should().BeFalse();
    }

    [Fact]
    public void An_offline_user_without_devices_is_left_alone()
    {
        var offline = UserPresence.Default(Alice);
        PresenceRules.HandleTimeout(offline, new Dictionary<string, DevicePresence>(), new HashSet<string>(), 100 * Minute, Timings).Should().BeSameAs(offline);
    }

    [Fact]
    public void A_remote_user_whose_server_is_silent_for_thirty_minutes_becomes_offline()
    {
        var heard = Online(0, lastSync: 10 * Minute) with { UserId = "@bob:other.org" };
        PresenceRules.HandleRemoteTimeout(heard, 40 * Minute, Timings).Should().BeSameAs(heard);
        var silent = PresenceRules.HandleRemoteTimeout(heard, 40 * Minute + 1, Timings);
        silent.State.Should().Be(PresenceStates.Offline);
        silent.CurrentlyActive.Should().BeFalse();

        var offline = heard with { State = PresenceStates.Offline };
        PresenceRules.HandleRemoteTimeout(offline, 100 * Minute, Timings).Should().BeSameAs(offline);
    }

    [Fact]
    public void An_unchanged_local_state_is_repeated_to_other_servers_every_twenty_five_minutes_unless_offline()
    {
        var online = Online(0, 0);
        PresenceRules.NeedsFederationPing(online, lastSentTs: 0, now: 25 * Minute - 1, Timings).Should().BeFalse();
        PresenceRules.NeedsFederationPing(online, lastSentTs: 0, now: 25 * Minute, Timings).Should().BeTrue();
        PresenceRules.NeedsFederationPing(online with { State = PresenceStates.Unavailable }, 0, 30 * Minute, Timings).Should().BeTrue();
        PresenceRules.NeedsFederationPing(online with { State = PresenceStates.Offline }, 0, 30 * Minute, Timings).Should().BeFalse();
    }
}
