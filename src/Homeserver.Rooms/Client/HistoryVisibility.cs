using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Client;

/// <summary>
/// Which events a user may see (client-server API, "History visibility"): <c>world_readable</c> to anyone;
/// otherwise to members at the time of the event; <c>invited</c> also while invited; <c>shared</c> also to
/// anyone who is in the room now. Read from the state after each event; for a history visibility change
/// itself the more permissive of old and new applies, so the boundary is visible from both sides (as Synapse); for the
/// user's own membership events the more joined of old and new membership applies.
///
/// An event whose sender erased their account (deactivation with <c>erase</c>) is shown redacted to anyone who was not
/// joined when it was sent: "users which join the room after the erasure request are served redacted copies of the
/// events sent by the erased user. Users which had visibility on the event before the erasure are still able to see
/// unredacted copies" (client-server API, <c>POST /account/deactivate</c>; as Synapse, by membership at the event).
/// </summary>
public sealed class HistoryVisibility(IRoomReadStore reads, EventLookup lookup, IErasedUsers? erasedUsers = null)
{
    public const string WorldReadable = "world_readable";
    public const string Shared = "shared";
    public const string Invited = "invited";
    public const string Joined = "joined";

    private static readonly string[] Priority = [WorldReadable, Shared, Invited, Joined];

    /// <summary>The events <paramref name="userId"/> may see, in the given order.</summary>
    /// <param name="currentMembership">The user's membership in the room now (null if none).</param>
    public async Task<IReadOnlyList<StoredEvent>> FilterAsync(string userId, string? currentMembership, IReadOnlyList<StoredEvent> events, CancellationToken ct)
    {
        var keys = new[] { new StateKey(EventTypes.Member, userId), new StateKey(HistoryVisibilityType, string.Empty) };
        var perSnapshot = new Dictionary<long, IReadOnlyDictionary<StateKey, string>>();
        var needed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (e.StateAfter is { } s && !perSnapshot.ContainsKey(s))
            {
                var entries = await reads.GetStateEntriesAsync(s, keys, ct);
                perSnapshot[s] = entries;
                needed.UnionWith(entries.Values);
            }
        }

        var stateEvents = await LoadAsync(needed, ct);
        var result = new List<StoredEvent>(events.Count);
        foreach (var e in events)
        {
            if (e.StateAfter is not { } snapshot)
            {
                continue;
            }

            var entries = perSnapshot[snapshot];
            var membership = entries.TryGetValue(keys[0], out var m) && stateEvents.TryGetValue(m, out var me) ? me.Membership : null;
            var visibility = entries.TryGetValue(keys[1], out var h) && stateEvents.TryGetValue(h, out var he) ? Read(he) : Shared;
            if (e.Event.Type == HistoryVisibilityType && e.Event.StateKey == string.Empty && e.StateBefore is { } before)
            {
                var prev = await reads.GetStateEntriesAsync(before, [keys[1]], ct);
                var prevVisibility = Shared;
                if (prev.TryGetValue(keys[1], out var prevId) && (await LoadAsync([prevId], ct)).TryGetValue(prevId, out var prevEvent))
                {
                    prevVisibility = Read(prevEvent);
                }

                if (Array.IndexOf(Priority, prevVisibility) < Array.IndexOf(Priority, visibility))
                {
                    visibility = prevVisibility;
                }
            }

            if (e.Event.Type == EventTypes.Member && e.Event.StateKey == userId && e.StateBefore is { } beforeOwn)
            {
                // The user's own membership change is judged by the more joined of before and after (as Synapse), and
                // their own leave after a join or invite is always theirs to see: else a former member's timeline would
                // end without the leave, and a rejected invite would never show as rejected.
                var prev = await reads.GetStateEntriesAsync(beforeOwn, [keys[0]], ct);
                var prevMembership = prev.TryGetValue(keys[0], out var prevId) && (await LoadAsync([prevId], ct)).TryGetValue(prevId, out var prevEvent)
                    ? prevEvent.Membership
                    : null;
                if (e.Event.Membership == Membership.Leave && prevMembership is Membership.Join or Membership.Invite)
                {
                    result.Add(e);
                    continue;
                }

                if (MembershipRank(prevMembership) < MembershipRank(membership))
                {
                    membership = prevMembership;
                }
            }

            if (IsVisible(visibility, membership, currentMembership))
            {
                var erased = membership != Membership.Join && erasedUsers is not null && await erasedUsers.IsErasedAsync(e.Event.Sender, ct);
                result.Add(erased ? e with { Event = e.Event.Redacted() } : e);
            }
        }

        return result;
    }

    public const string HistoryVisibilityType = "m.room.history_visibility";

    internal static bool IsVisible(string visibility, string? membershipAtEvent, string? currentMembership) => visibility switch
    {
        WorldReadable => true,
        _ when membershipAtEvent == Membership.Join => true,
        Invited => membershipAtEvent == Membership.Invite,
        Shared => currentMembership == Membership.Join,
        _ => false,
    };

    /// <summary>How joined a membership is, most joined first (Synapse's MEMBERSHIP_PRIORITY); none counts as leave.</summary>
    private static int MembershipRank(string? membership) => membership switch
    {
        Membership.Join => 0,
        Membership.Invite => 1,
        Membership.Knock => 2,
        Membership.Ban => 4,
        _ => 3,
    };

    private static string Read(Pdu e) =>
        e.Content.TryGetProperty("history_visibility", out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String && Array.IndexOf(Priority, v.GetString()) >= 0
            ? v.GetString()!
            : Shared;

    private async Task<IReadOnlyDictionary<string, Pdu>> LoadAsync(IEnumerable<string> ids, CancellationToken ct) => await lookup.GetEventsAsync(ids, ct);
}

/// <summary>Which local users deactivated their account with erasure (implemented over the accounts store).</summary>
public interface IErasedUsers
{
    ValueTask<bool> IsErasedAsync(string userId, CancellationToken ct);
}
