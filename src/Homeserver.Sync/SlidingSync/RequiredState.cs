using System.Text.Json;
using Homeserver.Core;
using Homeserver.Rooms;

namespace Homeserver.Sync.SlidingSync;

/// <summary>One (type, state key) pattern of <c>required_state</c>; null is the <c>*</c> wildcard, <c>$ME</c> the requester.</summary>
public readonly record struct StatePattern(string? Type, string? StateKey)
{
    public const string Wildcard = "*";
    public const string Me = "$ME";
    public const string Lazy = "$LAZY";

    public bool Matches(StateKey key, string me) =>
        (Type is null || Type == key.Type) && (StateKey is null || (StateKey == Me ? me : StateKey) == key.Key);
}

/// <summary>
/// The <c>required_state</c> of a sliding sync room config (MSC4186), in either request shape:
/// Synapse's list of <c>[type, state_key]</c> pairs (with <c>*</c> wildcards, <c>$ME</c>, and
/// <c>["m.room.member", "$LAZY"]</c> to lazy-load members), or the proposal's
/// <c>{"include": [...], "exclude": [...], "lazy_members": bool}</c>. With lazy members, membership events come
/// only from patterns that name <c>m.room.member</c> explicitly, so <c>["*", "*"]</c> plus <c>$LAZY</c> means
/// "all state, and the members the timeline needs".
/// </summary>
public sealed record RequiredState(IReadOnlyList<StatePattern> Include, IReadOnlyList<StatePattern> Exclude, bool LazyMembers)
{
    public static readonly RequiredState None = new([], [], false);

    public bool IsEmpty => Include.Count == 0 && !LazyMembers;

    public bool Matches(StateKey key, string me)
    {
        foreach (var e in Exclude)
        {
            if (e.Matches(key, me))
            {
                return false;
            }
        }

        foreach (var i in Include)
        {
            if (LazyMembers && key.Type == EventTypes.Member && i.Type != EventTypes.Member)
            {
                continue;
            }

            if (i.Matches(key, me))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A canonical text of the patterns, so that two configs asking for the same state compare equal.</summary>
    public string Canonical =>
        string.Join(",", Include.Select(Text).Order(StringComparer.Ordinal)) + "|" + string.Join(",", Exclude.Select(Text).Order(StringComparer.Ordinal)) + "|" + LazyMembers;

    private static string Text(StatePattern p) => (p.Type ?? "*") + "\u0000" + (p.StateKey ?? "*");

    public static RequiredState Parse(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Array:
            {
                var include = new List<StatePattern>();
                var lazy = false;
                foreach (var pair in element.EnumerateArray())
                {
                    if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2
                        || pair[0].ValueKind != JsonValueKind.String || pair[1].ValueKind != JsonValueKind.String)
                    {
                        throw MatrixException.BadJson($"{path} must be a list of [type, state_key] pairs of strings");
                    }

                    var type = pair[0].GetString()!;
                    var key = pair[1].GetString()!;
                    if (type == EventTypes.Member && key == StatePattern.Lazy)
                    {
                        lazy = true;
                        continue;
                    }

                    include.Add(new StatePattern(type == StatePattern.Wildcard ? null : type, key == StatePattern.Wildcard ? null : key));
                }

                return new RequiredState(include, [], lazy);
            }

            case JsonValueKind.Object:
                return new RequiredState(
                    Patterns(element, "include", path),
                    Patterns(element, "exclude", path),
                    element.TryGetProperty("lazy_members", out var l) && (l.ValueKind == JsonValueKind.True || (l.ValueKind != JsonValueKind.False && l.ValueKind != JsonValueKind.Null
                        ? throw MatrixException.BadJson($"{path}.lazy_members must be a boolean")
                        : false)));

            default:
                throw MatrixException.BadJson($"{path} must be a list or an object");
        }
    }

    private static List<StatePattern> Patterns(JsonElement obj, string name, string path)
    {
        var result = new List<StatePattern>();
        if (!obj.TryGetProperty(name, out var list) || list.ValueKind == JsonValueKind.Null)
        {
            return result;
        }

        if (list.ValueKind != JsonValueKind.Array)
        {
            throw MatrixException.BadJson($"{path}.{name} must be a list");
        }

        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw MatrixException.BadJson($"{path}.{name} must contain objects");
            }

            result.Add(new StatePattern(OptionalString(item, "type", path), OptionalString(item, "state_key", path)));
        }

        return result;
    }

    private static string? OptionalString(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw MatrixException.BadJson($"{path}: {name} must be a string");
    }
}
