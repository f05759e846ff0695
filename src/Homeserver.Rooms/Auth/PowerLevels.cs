using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Rooms.Auth;

/// <summary>
/// A parsed, tolerant view of <c>m.room.power_levels</c> with the spec defaults
/// (event schema <c>m.room.power_levels</c> and "Definitions" under "Checks performed on receipt of a PDU").
/// Values that cannot be read for the room version are treated as absent, so the default applies;
/// whether a new power levels event is well formed is decided by the auth rules (<see cref="Validate"/>).
/// </summary>
public sealed class PowerLevels
{
    /// <summary>The level of a room creator in v12+ ("infinitely high"). Larger than any storable value.</summary>
    public const long CreatorLevel = long.MaxValue;

    public const long DefaultBan = 50;
    public const long DefaultKick = 50;
    public const long DefaultRedact = 50;
    public const long DefaultInvite = 0;
    public const long DefaultStateDefault = 50;
    public const long DefaultEventsDefault = 0;
    public const long DefaultUsersDefault = 0;
    public const long DefaultNotificationRoom = 50;

    /// <summary>Pre-v12 level of the creator when the room has no power levels event.</summary>
    public const long NoPowerLevelsCreatorLevel = 100;

    private static readonly Dictionary<string, long> Empty = new(StringComparer.Ordinal);

    private readonly Dictionary<string, long> users;
    private readonly Dictionary<string, long> events;
    private readonly Dictionary<string, long> notifications;
    private readonly RoomCreators creators;

    private PowerLevels(Pdu? source, RoomCreators creators, Dictionary<string, long> users, Dictionary<string, long> events, Dictionary<string, long> notifications)
    {
        Event = source;
        this.creators = creators;
        this.users = users;
        this.events = events;
        this.notifications = notifications;
    }

    /// <summary>The power levels event this view was built from, or null when the room has none.</summary>
    public Pdu? Event { get; }

    public long UsersDefault { get; private init; } = DefaultUsersDefault;

    public long EventsDefault { get; private init; } = DefaultEventsDefault;

    public long StateDefault { get; private init; } = DefaultStateDefault;

    public long Ban { get; private init; } = DefaultBan;

    public long Kick { get; private init; } = DefaultKick;

    public long Redact { get; private init; } = DefaultRedact;

    public long Invite { get; private init; } = DefaultInvite;

    public IReadOnlyDictionary<string, long> Users => users;

    public IReadOnlyDictionary<string, long> Events => events;

    public IReadOnlyDictionary<string, long> Notifications => notifications;

    public RoomCreators Creators => creators;

    /// <summary>Builds the view from the current power levels and create events of a state map.</summary>
    public static PowerLevels FromState(IReadOnlyDictionary<StateKey, Pdu> state, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(state);
        state.TryGetValue(new StateKey(EventTypes.PowerLevels, string.Empty), out var pl);
        state.TryGetValue(new StateKey(EventTypes.Create, string.Empty), out var create);
        return From(pl, create, version);
    }

    /// <summary>Builds the view from a power levels event (null when absent) and the room's create event.</summary>
    public static PowerLevels From(Pdu? powerLevels, Pdu? create, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        var creators = RoomCreators.From(create, version);
        if (powerLevels is null)
        {
            return new PowerLevels(null, creators, Empty, Empty, Empty);
        }

        if (powerLevels.PowerLevelsMemo is { } memo && ReferenceEquals(memo.Create, create) && memo.Version == version)
        {
            return memo.Levels;
        }

        var c = powerLevels.Content;
        var levels = new PowerLevels(powerLevels, creators, ReadMap(c, "users", version), ReadMap(c, "events", version), ReadMap(c, "notifications", version))
        {
            UsersDefault = ReadOr(c, "users_default", DefaultUsersDefault, version),
            EventsDefault = ReadOr(c, "events_default", DefaultEventsDefault, version),
            StateDefault = ReadOr(c, "state_default", DefaultStateDefault, version),
            Ban = ReadOr(c, "ban", DefaultBan, version),
            Kick = ReadOr(c, "kick", DefaultKick, version),
            Redact = ReadOr(c, "redact", DefaultRedact, version),
            Invite = ReadOr(c, "invite", DefaultInvite, version),
        };
        powerLevels.PowerLevelsMemo = new Memo(create, version, levels);
        return levels;
    }

    /// <summary>The view one power levels event gave with <see cref="Create"/> (see <see cref="Pdu"/>).</summary>
    internal sealed record Memo(Pdu? Create, RoomVersion Version, PowerLevels Levels);

    /// <summary>
    /// The user's power level: v12 creators are infinite (<see cref="CreatorLevel"/>); else <c>users</c>, then
    /// <c>users_default</c>; without a power levels event, the creator has 100 and everyone else 0.
    /// </summary>
    public long GetUserLevel(string userId)
    {
        if (creators.Privileged && creators.Contains(userId))
        {
            return CreatorLevel;
        }

        if (Event is null)
        {
            return creators.Contains(userId) ? NoPowerLevelsCreatorLevel : DefaultUsersDefault;
        }

        return users.TryGetValue(userId, out var level) ? level : UsersDefault;
    }

    /// <summary>The spec's "required power level" of an event type: <c>events</c>, else <c>state_default</c> or <c>events_default</c>.</summary>
    public long GetEventLevel(string eventType, bool isState) =>
        events.TryGetValue(eventType, out var level) ? level : isState ? StateDefault : EventsDefault;

    /// <summary>
    /// The level for a notification key; <c>room</c> defaults to 50 (event schema). Other keys have no default: null.
    /// </summary>
    public long? GetNotificationLevel(string key) =>
        notifications.TryGetValue(key, out var level) ? level : key == "room" ? DefaultNotificationRoom : null;

    /// <summary>
    /// Auth rules 10.1-10.4 (v10+ numbering; 10.1 before v10): is the content of a new power levels event well formed
    /// for the room version? Returns null when it is, else the reason. Before v10 only <c>users</c> is constrained by the
    /// spec; we additionally require every other level to be readable, as no comparison could be made otherwise.
    /// </summary>
    internal static string? Validate(JsonElement content, RoomVersion version, RoomCreators creators)
    {
        foreach (var name in ScalarKeys)
        {
            if (content.TryGetProperty(name, out var v) && !PowerLevelValue.TryRead(v, version, out _))
            {
                return "'" + name + "' is not an integer";
            }
        }

        foreach (var name in (ReadOnlySpan<string>)["events", "notifications"])
        {
            if (!content.TryGetProperty(name, out var map))
            {
                continue;
            }

            if (map.ValueKind != JsonValueKind.Object)
            {
                return "'" + name + "' is not an object";
            }

            foreach (var p in map.EnumerateObject())
            {
                if (!PowerLevelValue.TryRead(p.Value, version, out _))
                {
                    return "'" + name + "." + p.Name + "' is not an integer";
                }
            }
        }

        if (content.TryGetProperty("users", out var usersMap))
        {
            if (usersMap.ValueKind != JsonValueKind.Object)
            {
                return "'users' is not an object";
            }

            foreach (var p in usersMap.EnumerateObject())
            {
                if (!MatrixId.IsValidUserId(p.Name))
                {
                    return "'users' key '" + p.Name + "' is not a valid user ID";
                }

                if (!PowerLevelValue.TryRead(p.Value, version, out _))
                {
                    return "'users." + p.Name + "' is not an integer";
                }

                // v12 rule 10.4: creators have infinite power and cannot be listed.
                if (creators.Privileged && creators.Contains(p.Name))
                {
                    return "'users' contains the room creator " + p.Name;
                }
            }
        }

        return null;
    }

    internal static readonly string[] ScalarKeys = ["users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"];

    /// <summary>Reads a scalar level of raw content (null when absent or unreadable).</summary>
    internal static long? ReadScalar(JsonElement content, string name, RoomVersion version) =>
        content.ValueKind == JsonValueKind.Object && content.TryGetProperty(name, out var v) && PowerLevelValue.TryRead(v, version, out var level)
            ? level
            : null;

    internal static Dictionary<string, long> ReadMap(JsonElement content, string name, RoomVersion version)
    {
        if (content.ValueKind != JsonValueKind.Object || !content.TryGetProperty(name, out var map) || map.ValueKind != JsonValueKind.Object)
        {
            return Empty;
        }

        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var p in map.EnumerateObject())
        {
            if (PowerLevelValue.TryRead(p.Value, version, out var level))
            {
                // Duplicate keys: the last one wins, as in most JSON parsers.
                result[p.Name] = level;
            }
        }

        return result;
    }

    private static long ReadOr(JsonElement content, string name, long fallback, RoomVersion version) =>
        ReadScalar(content, name, version) ?? fallback;
}
