using System.Text.Json;
using Homeserver.Sync.Rooms;

namespace Homeserver.Sync.Presence;

/// <summary>
/// The top-level <c>presence</c> section of <c>/sync</c>: on an initial sync, the current presence of every user
/// who shares a room with the requester (offline ones left out, as Synapse); on an incremental sync, the presence
/// changes persisted since the token by users who share a room, plus the presence of the members of rooms the
/// requester has just joined. Strangers' presence never appears.
/// </summary>
public sealed class PresenceSyncSection(PresenceService presence, IPresenceStore store, RoomAudience audience, TimeProvider time) : ISyncSection
{
    public const string EventType = "m.presence";

    /// <summary>The most presence events one answer carries.</summary>
    public const int MaxEvents = 1000;

    public async Task<ISyncContribution> ComputeAsync(SyncContext context, CancellationToken ct)
    {
        var filter = context.Filter.Presence;
        if (!filter.MatchesType(EventType))
        {
            return new Contribution([], 0);
        }

        var me = context.Requester.UserId;
        var events = new Dictionary<string, UserPresence>(StringComparer.Ordinal);
        var since = context.FullState ? null : context.Since?.Stream;
        if (since is null)
        {
            var users = new HashSet<string>(await store.GetUsersSharingRoomAsync(me, ct), StringComparer.Ordinal) { me };
            foreach (var (user, p) in await presence.GetCurrentAsync(users, ct))
            {
                if (p.State != PresenceStates.Offline)
                {
                    events[user] = p;
                }
            }
        }
        else
        {
            var changed = (await store.GetChangedAsync(since.Value, context.UpTo.Stream, MaxEvents, ct)).ToDictionary(p => p.UserId, StringComparer.Ordinal);
            if (changed.Count > 0)
            {
                var others = changed.Keys.Where(u => u != me).ToList();
                var visible = others.Count == 0 ? [] : await store.FilterUsersSharingRoomAsync(me, others, ct);
                foreach (var user in visible.Append(me))
                {
                    if (changed.TryGetValue(user, out var p))
                    {
                        events[user] = p;
                    }
                }
            }

            // Members of rooms just joined, of any server: their presence is new to the requester.
            var newcomers = new HashSet<string>(StringComparer.Ordinal);
            foreach (var roomId in context.NewlyJoinedRoomIds)
            {
                newcomers.UnionWith(await audience.GetJoinedAsync(roomId, ct));
            }

            newcomers.ExceptWith(events.Keys);
            if (newcomers.Count > 0)
            {
                foreach (var (user, p) in await presence.GetCurrentAsync(newcomers, ct))
                {
                    if (p.State != PresenceStates.Offline)
                    {
                        events[user] = p;
                    }
                }
            }
        }

        var list = events.Values.Where(p => filter.MatchesSender(p.UserId)).OrderBy(p => p.UserId, StringComparer.Ordinal).ToList();
        if (filter.Limit is { } limit && limit > 0 && list.Count > limit)
        {
            list = list.Take(limit).ToList();
        }

        return new Contribution(list, time.GetUtcNow().ToUnixTimeMilliseconds());
    }

    private sealed class Contribution(List<UserPresence> events, long now) : ISyncContribution
    {
        public bool HasContent => events.Count > 0;

        public void Write(Utf8JsonWriter writer)
        {
            writer.WritePropertyName("presence"u8);
            writer.WriteStartObject();
            writer.WritePropertyName("events"u8);
            writer.WriteStartArray();
            foreach (var p in events)
            {
                PresenceService.WriteEvent(writer, p, now);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }
    }
}
