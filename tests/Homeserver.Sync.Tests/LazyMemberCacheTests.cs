using Homeserver.Sync.Rooms;

namespace Homeserver.Sync.Tests;

public sealed class LazyMemberCacheTests
{
    [Fact]
    public void A_member_event_sent_to_a_device_is_redundant_for_that_device_only()
    {
        var cache = new LazyMemberCache(TimeProvider.System);
        cache.MarkSent("@a:x", "D1", "!r:x", [("@b:x", "$join")]);
        cache.WasSent("@a:x", "D1", "!r:x", "@b:x", "$join").Should().BeTrue();
        cache.WasSent("@a:x", "D2", "!r:x", "@b:x", "$join").Should().BeFalse();
        cache.WasSent("@a:x", "D1", "!other:x", "@b:x", "$join").Should().BeFalse();
        cache.WasSent("@a:x", "D1", "!r:x", "@b:x", "$newer").Should().BeFalse("a changed membership is not redundant");
    }

    [Fact]
    public void Clearing_a_device_forgets_what_it_was_sent()
    {
        var cache = new LazyMemberCache(TimeProvider.System);
        cache.MarkSent("@a:x", "D1", "!r:x", [("@b:x", "$join")]);
        cache.Clear("@a:x", "D1");
        cache.WasSent("@a:x", "D1", "!r:x", "@b:x", "$join").Should().BeFalse();
    }

    [Fact]
    public void A_room_with_many_members_stays_bounded_and_only_forgets()
    {
        var cache = new LazyMemberCache(TimeProvider.System);
        cache.MarkSent("@a:x", "D1", "!r:x", Enumerable.Range(0, 250).Select(i => ($"@u{i}:x", $"$e{i}")));
        var remembered = Enumerable.Range(0, 250).Count(i => cache.WasSent("@a:x", "D1", "!r:x", $"@u{i}:x", $"$e{i}"));
        remembered.Should().BeInRange(1, 100);
        cache.WasSent("@a:x", "D1", "!r:x", "@u249:x", "$e249").Should().BeTrue("the latest are kept");
    }
}
