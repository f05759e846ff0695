using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Rooms.Tests;

public sealed class EventCacheTests
{
    private static Pdu Event(int i) => Pdu.Parse(JsonDocument.Parse($$$"""
        {"event_id":"$e{{{i}}}:example.com","room_id":"!r:example.com","sender":"@alice:example.com","type":"m.room.message",
         "content":{"body":"{{{i}}}"},"depth":{{{i}}},"origin_server_ts":{{{i}}},"origin":"example.com",
         "prev_events":[],"auth_events":[],"hashes":{"sha256":"h"},"signatures":{}}
        """).RootElement, RoomVersion.V1);

    [Fact]
    public void Stays_within_its_capacity_and_keeps_the_newest()
    {
        var cache = new EventCache(capacity: 10);
        for (var i = 0; i < 40; i++)
        {
            cache.Add(Event(i));
        }

        var held = Enumerable.Range(0, 40).Count(i => cache.TryGet($"$e{i}:example.com", out _));
        held.Should().BeInRange(1, 10);
        cache.TryGet("$e39:example.com", out var last).Should().BeTrue();
        last.Depth.Should().Be(39);
        cache.TryGet("$e1:example.com", out _).Should().BeFalse();
    }

    [Fact]
    public void Adding_an_event_again_replaces_it_without_counting_it_twice()
    {
        var cache = new EventCache(capacity: 3);
        for (var round = 0; round < 5; round++)
        {
            cache.Add(Event(1));
            cache.Add(Event(2));
            cache.Add(Event(3));
        }

        // Three distinct events never overflow a cache of three, however often they are added.
        Enumerable.Range(1, 3).Count(i => cache.TryGet($"$e{i}:example.com", out _)).Should().Be(3);
    }
}
