using System.Security.Cryptography;
using System.Text;
using Homeserver.Rooms.Auth;

namespace Homeserver.Rooms.StateRes;

/// <summary>
/// The original state resolution algorithm of room version 1 ("State resolution" in rooms/v1):
/// <list type="number">
/// <item>R = the union of the state sets without conflicting events (a key missing from a set is no conflict).</item>
/// <item>Conflicting power levels: sorted by ascending depth then descending sha1(event_id); the first is taken, then each
/// next one while it passes auth against R.</item>
/// <item>The same for join rules, then for member events (each key against R as left by the previous category).</item>
/// <item>Any other conflict: the event with the highest depth and lowest sha1(event_id) that passes auth against R;
/// when none does, the last in that order (Synapse; the spec is silent).</item>
/// </list>
/// </summary>
internal static class StateResolutionV1
{
    public static async ValueTask<Dictionary<StateKey, string>> ResolveAsync(
        ResolutionContext context, IReadOnlyList<IReadOnlyDictionary<StateKey, string>> stateSets, IAuthSignatureVerifier verifier)
    {
        var split = StateSplit.Compute(stateSets, missingKeyConflicts: false);
        var result = split.Unconflicted;
        if (split.Conflicted.Count == 0)
        {
            return result;
        }

        await context.LoadAsync(split.ConflictedEventIds()).ConfigureAwait(false);

        // Conflicts whose events are unknown to the source shrink; a single remaining event is unconflicted (Synapse).
        var conflicts = new Dictionary<StateKey, List<Pdu>>();
        foreach (var (key, ids) in split.Conflicted)
        {
            var events = new List<Pdu>(ids.Count);
            foreach (var id in ids)
            {
                if (context.Get(id) is { } ev)
                {
                    events.Add(ev);
                }
            }

            if (events.Count == 1)
            {
                result[key] = events[0].EventId;
            }
            else if (events.Count > 1)
            {
                conflicts[key] = events;
            }
        }

        // R as events, for the auth checks: only the types the auth rules read.
        var authIds = new List<string>();
        foreach (var (key, id) in result)
        {
            if (IsAuthType(key.Type))
            {
                authIds.Add(id);
            }
        }

        await context.LoadAsync(authIds).ConfigureAwait(false);
        var r = new Dictionary<StateKey, Pdu>();
        foreach (var (key, id) in result)
        {
            if (IsAuthType(key.Type) && context.Get(id) is { } ev)
            {
                r[key] = ev;
            }
        }

        var resolved = new Dictionary<StateKey, Pdu>();
        foreach (var pass in (ReadOnlySpan<string>)[EventTypes.PowerLevels, EventTypes.JoinRules, EventTypes.Member])
        {
            foreach (var (key, events) in conflicts)
            {
                if (key.Type == pass && (pass != EventTypes.PowerLevels || key.Key.Length == 0))
                {
                    resolved[key] = ResolveAuthEvents(events, r, verifier);
                }
            }

            foreach (var (key, ev) in resolved)
            {
                r[key] = ev;
            }
        }

        foreach (var (key, events) in conflicts)
        {
            if (!resolved.ContainsKey(key))
            {
                resolved[key] = ResolveNormalEvents(events, r, verifier);
            }
        }

        foreach (var (key, ev) in resolved)
        {
            result[key] = ev.EventId;
        }

        return result;
    }

    private static bool IsAuthType(string type) =>
        type is EventTypes.Create or EventTypes.PowerLevels or EventTypes.JoinRules or EventTypes.Member or EventTypes.ThirdPartyInvite;

    private static Pdu ResolveAuthEvents(List<Pdu> events, Dictionary<StateKey, Pdu> r, IAuthSignatureVerifier verifier)
    {
        // Ascending depth, then descending sha1(event_id).
        var sorted = Order(events);
        sorted.Reverse();
        var state = new Dictionary<StateKey, Pdu>(r);
        var accepted = sorted[0];
        for (var i = 1; i < sorted.Count; i++)
        {
            state[accepted.StateMapKey!.Value] = accepted;
            if (!EventAuth.Check(sorted[i], state, verifier).Allowed)
            {
                break;
            }

            accepted = sorted[i];
        }

        return accepted;
    }

    private static Pdu ResolveNormalEvents(List<Pdu> events, Dictionary<StateKey, Pdu> r, IAuthSignatureVerifier verifier)
    {
        var sorted = Order(events);
        foreach (var ev in sorted)
        {
            if (EventAuth.Check(ev, r, verifier).Allowed)
            {
                return ev;
            }
        }

        return sorted[^1];
    }

    /// <summary>Descending depth, then ascending sha1(event_id) (UTF-8, as Synapse).</summary>
    private static List<Pdu> Order(List<Pdu> events)
    {
        var keyed = new List<(long Depth, byte[] Sha1, Pdu Event)>(events.Count);
        foreach (var ev in events)
        {
            // SHA-1 is what the room version 1 algorithm specifies as a tie-break; no security rests on it.
#pragma warning disable CA5350
            keyed.Add((ev.Depth, SHA1.HashData(Encoding.UTF8.GetBytes(ev.EventId)), ev));
#pragma warning restore CA5350
        }

        keyed.Sort(static (x, y) =>
        {
            var c = y.Depth.CompareTo(x.Depth);
            return c != 0 ? c : x.Sha1.AsSpan().SequenceCompareTo(y.Sha1);
        });

        var sorted = new List<Pdu>(keyed.Count);
        foreach (var k in keyed)
        {
            sorted.Add(k.Event);
        }

        return sorted;
    }
}
