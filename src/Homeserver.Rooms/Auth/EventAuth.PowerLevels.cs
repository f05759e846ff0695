using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Rooms.Auth;

public static partial class EventAuth
{
    /// <summary>Rule 10 (v1-v5, v12) / 9 (v6-v11): <c>m.room.power_levels</c>.</summary>
    private static AuthResult CheckPowerLevels(Pdu pdu, Pdu? current, PowerLevels currentLevels, long senderLevel)
    {
        var version = pdu.RoomVersion;
        var content = pdu.Content;

        if (PowerLevels.Validate(content, version, currentLevels.Creators) is { } problem)
        {
            return AuthResult.Reject("power_levels.invalid", "malformed power levels: " + problem);
        }

        // "If there is no previous m.room.power_levels event in the room, allow."
        if (current is null)
        {
            return AuthResult.Allow;
        }

        var old = current.Content;

        // users_default, events_default, state_default, ban, redact, kick, invite: for each alteration, neither the
        // current nor the new value may be higher than the sender's level.
        foreach (var name in PowerLevels.ScalarKeys)
        {
            var before = PowerLevels.ReadScalar(old, name, version);
            var after = PowerLevels.ReadScalar(content, name, version);
            if (before == after)
            {
                continue;
            }

            if (before > senderLevel || after > senderLevel)
            {
                return AuthResult.Reject("power_levels." + name, "sender cannot change '" + name + "' beyond their own power level");
            }
        }

        if (CheckLevelMap(old, content, "events", version, senderLevel) is { } events)
        {
            return events;
        }

        if (version.LimitsNotificationsPowerLevels() && CheckLevelMap(old, content, "notifications", version, senderLevel) is { } notifications)
        {
            return notifications;
        }

        var oldUsers = PowerLevels.ReadMap(old, "users", version);
        var newUsers = PowerLevels.ReadMap(content, "users", version);
        foreach (var (user, before) in oldUsers)
        {
            var changed = !newUsers.TryGetValue(user, out var after) || after != before;
            if (changed && user != pdu.Sender && before >= senderLevel)
            {
                return AuthResult.Reject("power_levels.users", "sender cannot change the level of " + user + ", which is not below their own");
            }
        }

        foreach (var (user, after) in newUsers)
        {
            var changed = !oldUsers.TryGetValue(user, out var before) || after != before;
            if (changed && after > senderLevel)
            {
                return AuthResult.Reject("power_levels.users", "sender cannot give " + user + " a level above their own");
            }
        }

        return AuthResult.Allow;
    }

    /// <summary>Rules for <c>events</c> / <c>notifications</c>: changed or removed entries were not above the sender; added or changed ones are not.</summary>
    private static AuthResult? CheckLevelMap(JsonElement old, JsonElement content, string name, RoomVersion version, long senderLevel)
    {
        var before = PowerLevels.ReadMap(old, name, version);
        var after = PowerLevels.ReadMap(content, name, version);
        foreach (var (key, oldValue) in before)
        {
            var changed = !after.TryGetValue(key, out var newValue) || newValue != oldValue;
            if (changed && oldValue > senderLevel)
            {
                return AuthResult.Reject("power_levels." + name, "sender cannot change '" + name + "." + key + "', which is above their own level");
            }
        }

        foreach (var (key, newValue) in after)
        {
            var changed = !before.TryGetValue(key, out var oldValue) || newValue != oldValue;
            if (changed && newValue > senderLevel)
            {
                return AuthResult.Reject("power_levels." + name, "sender cannot set '" + name + "." + key + "' above their own level");
            }
        }

        return null;
    }
}
