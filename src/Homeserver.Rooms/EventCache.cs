using System.Collections.Concurrent;

namespace Homeserver.Rooms;

/// <summary>
/// Parsed events by ID, shared by every reader: events are immutable once persisted, so the cache never
/// needs invalidation (redaction is stored beside the event, not in it). Bounded: when full, roughly the
/// older half is dropped (a cheap approximation of LRU that keeps hot state events resident).
/// </summary>
public sealed class EventCache(int capacity = 200_000)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _clock;

    private sealed class Entry(Pdu pdu, long used)
    {
        public Pdu Pdu { get; } = pdu;

        public long Used { get; set; } = used;
    }

    public bool TryGet(string eventId, out Pdu pdu)
    {
        if (_entries.TryGetValue(eventId, out var e))
        {
            e.Used = Interlocked.Increment(ref _clock);
            pdu = e.Pdu;
            return true;
        }

        pdu = null!;
        return false;
    }

    public void Add(Pdu pdu)
    {
        if (_entries.Count >= capacity)
        {
            Trim();
        }

        _entries[pdu.EventId] = new Entry(pdu, Interlocked.Increment(ref _clock));
    }

    private void Trim()
    {
        var cutoff = Interlocked.Read(ref _clock) - (capacity / 2);
        foreach (var (id, e) in _entries)
        {
            if (e.Used < cutoff)
            {
                _entries.TryRemove(id, out _);
            }
        }
    }
}
