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

    // The number of entries, kept here: ConcurrentDictionary.Count takes every one of the dictionary's locks (up to
    // 1,024 once it has grown), and every persisted event is added.
    private int _count;

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
        var entry = new Entry(pdu, Interlocked.Increment(ref _clock));
        if (!_entries.TryAdd(pdu.EventId, entry))
        {
            _entries[pdu.EventId] = entry;
        }
        else if (Interlocked.Increment(ref _count) > capacity)
        {
            Trim();
        }
    }

    private void Trim()
    {
        var cutoff = Interlocked.Read(ref _clock) - (capacity / 2);
        foreach (var (id, e) in _entries)
        {
            if (e.Used < cutoff && _entries.TryRemove(id, out _))
            {
                Interlocked.Decrement(ref _count);
            }
        }
    }
}
