namespace Homeserver.Sync.Rooms;

/// <summary>
/// Which membership events each device has already been sent, per room, so that lazy-loading syncs can leave
/// out "redundant" ones (client-server API, "Lazy-loading room members"), as Synapse's lazy-loaded members
/// cache does. Bounded everywhere: per room, per device, in devices and in idle time; forgetting only costs
/// a redundant member event later, never a missing one.
/// </summary>
public sealed class LazyMemberCache(TimeProvider time)
{
    private const int MaxMembersPerRoom = 100;
    private const int MaxRoomsPerDevice = 1000;
    private const int MaxDevices = 10_000;
    private static readonly TimeSpan MaxIdle = TimeSpan.FromMinutes(30);

    private readonly object _lock = new();
    private readonly Dictionary<(string User, string Device), DeviceEntry> _devices = [];

    private sealed class DeviceEntry
    {
        public Dictionary<string, Dictionary<string, string>> Rooms { get; } = new(StringComparer.Ordinal);

        public long LastUsed { get; set; }
    }

    /// <summary>Forgets everything sent to the device (a sync without <c>since</c> starts a new sequence).</summary>
    public void Clear(string userId, string deviceId)
    {
        lock (_lock)
        {
            _devices.Remove((userId, deviceId));
        }
    }

    /// <summary>Whether this exact membership event was already sent to the device in this room.</summary>
    public bool WasSent(string userId, string deviceId, string roomId, string memberUserId, string eventId)
    {
        lock (_lock)
        {
            return _devices.TryGetValue((userId, deviceId), out var entry)
                && entry.Rooms.TryGetValue(roomId, out var members)
                && members.TryGetValue(memberUserId, out var sent)
                && sent == eventId;
        }
    }

    /// <summary>Records membership events sent to the device in a room.</summary>
    public void MarkSent(string userId, string deviceId, string roomId, IEnumerable<(string MemberUserId, string EventId)> sent)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_lock)
        {
            if (!_devices.TryGetValue((userId, deviceId), out var entry))
            {
                if (_devices.Count >= MaxDevices)
                {
                    Evict(now);
                }

                _devices[(userId, deviceId)] = entry = new DeviceEntry();
            }

            entry.LastUsed = now;
            if (!entry.Rooms.TryGetValue(roomId, out var members))
            {
                if (entry.Rooms.Count >= MaxRoomsPerDevice)
                {
                    entry.Rooms.Clear();
                }

                entry.Rooms[roomId] = members = new Dictionary<string, string>(StringComparer.Ordinal);
            }

            foreach (var (member, eventId) in sent)
            {
                if (members.Count >= MaxMembersPerRoom && !members.ContainsKey(member))
                {
                    members.Clear();
                }

                members[member] = eventId;
            }
        }
    }

    private void Evict(long now)
    {
        var idle = (long)MaxIdle.TotalMilliseconds;
        foreach (var key in _devices.Where(kv => now - kv.Value.LastUsed > idle).Select(kv => kv.Key).ToList())
        {
            _devices.Remove(key);
        }

        if (_devices.Count >= MaxDevices)
        {
            foreach (var key in _devices.OrderBy(kv => kv.Value.LastUsed).Take(_devices.Count / 2).Select(kv => kv.Key).ToList())
            {
                _devices.Remove(key);
            }
        }
    }
}
