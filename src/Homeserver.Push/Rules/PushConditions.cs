using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core.Text;

namespace Homeserver.Push.Rules;

/// <summary>
/// The facts about one event that conditions look at, computed once per event and shared by every user whose rules
/// are checked against it (membership counts and power levels are the room's, not re-read per user).
/// </summary>
public sealed class PushEventContext(JsonElement eventJson, string roomId, string sender, long joinedMemberCount, long senderPowerLevel, Func<string, long> notificationLevel)
{
    private string? _body;
    private bool _bodyRead;
    private Dictionary<string, string?>? _strings;

    /// <summary>The event as a PDU (the fields conditions may name: type, state_key, sender, room_id, content...).</summary>
    public JsonElement Event { get; } = eventJson;

    public string RoomId { get; } = roomId;

    public string Sender { get; } = sender;

    public long JoinedMemberCount { get; } = joinedMemberCount;

    public long SenderPowerLevel { get; } = senderPowerLevel;

    /// <summary>The power level needed to send notifications of a type (<c>notifications</c> in power levels, 50 when absent).</summary>
    public long NotificationLevel(string key) => notificationLevel(key);

    /// <summary><c>content.body</c> when it is a string.</summary>
    public string? Body
    {
        get
        {
            if (!_bodyRead)
            {
                _bodyRead = true;
                if (Event.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Object
                    && content.TryGetProperty("body", out var body) && body.ValueKind == JsonValueKind.String)
                {
                    _body = body.GetString();
                }
            }

            return _body;
        }
    }

    /// <summary>
    /// The string at <paramref name="path"/>, or null when it is absent or not a string: read once per event for every
    /// user's rules (reading it per rule and user allocated a string each time, most of what evaluating allocated).
    /// </summary>
    public string? StringAt(PropertyPath path)
    {
        _strings ??= new Dictionary<string, string?>(StringComparer.Ordinal);
        if (!_strings.TryGetValue(path.Text, out var value))
        {
            value = path.TryResolve(Event, out var found) && found.ValueKind == JsonValueKind.String ? found.GetString() : null;
            _strings[path.Text] = value;
        }

        return value;
    }
}

/// <summary>One compiled condition ("Conditions"). Unknown or malformed conditions never match (spec: they disable the rule).</summary>
public abstract class PushCondition
{
    public abstract bool Matches(PushEventContext e, string? displayName);

    /// <summary>Compiles a condition from its JSON. Anything not understood becomes <see cref="Never"/>.</summary>
    public static PushCondition Compile(JsonNode? node)
    {
        if (node is not JsonObject o || Str(o, "kind") is not { } kind)
        {
            return Never.Instance;
        }

        switch (kind)
        {
            case "event_match":
                return Str(o, "key") is { } key && Str(o, "pattern") is { } pattern ? new EventMatch(PropertyPath.Parse(key), pattern) : Never.Instance;
            case "event_property_is":
                return Str(o, "key") is { } isKey && o.TryGetPropertyValue("value", out var value) && IsScalar(value)
                    ? new EventPropertyIs(PropertyPath.Parse(isKey), ToElement(value))
                    : Never.Instance;
            case "event_property_contains":
                return Str(o, "key") is { } cKey && o.TryGetPropertyValue("value", out var cValue) && IsScalar(cValue)
                    ? new EventPropertyContains(PropertyPath.Parse(cKey), ToElement(cValue))
                    : Never.Instance;
            case "contains_display_name":
                return ContainsDisplayName.Instance;
            case "room_member_count":
                return Str(o, "is") is { } expr && RoomMemberCount.TryParse(expr, out var count) ? count : Never.Instance;
            case "sender_notification_permission":
                return Str(o, "key") is { } level ? new SenderNotificationPermission(level) : Never.Instance;
            default:
                return Never.Instance;
        }
    }

    private static string? Str(JsonObject o, string name) =>
        o.TryGetPropertyValue(name, out var v) && v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : null;

    private static bool IsScalar(JsonNode? value) => value is null || (value is JsonValue v && v.GetValueKind() is JsonValueKind.String or JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null
        || (value is JsonValue n && n.GetValueKind() == JsonValueKind.Number && ScalarEquals.IsCanonicalInteger(JsonSerializer.SerializeToElement(n))));

    private static JsonElement ToElement(JsonNode? value) => value is null ? JsonSerializer.SerializeToElement<object?>(null) : JsonSerializer.SerializeToElement(value);
}

/// <summary>A condition that never holds (unknown kinds, missing parameters).</summary>
public sealed class Never : PushCondition
{
    public static readonly Never Instance = new();

    public override bool Matches(PushEventContext e, string? displayName) => false;
}

/// <summary><c>event_match</c>: a glob against a string property; by words for <c>content.body</c>.</summary>
public sealed class EventMatch(PropertyPath path, string pattern) : PushCondition
{
    private readonly Glob _glob = Glob.Get(pattern, path.IsContentBody ? GlobMode.Word : GlobMode.Whole);

    public override bool Matches(PushEventContext e, string? displayName) => e.StringAt(path) is { } value && _glob.IsMatch(value);
}

/// <summary><c>event_property_is</c>: exact equality with a string, integer, boolean or null.</summary>
public sealed class EventPropertyIs(PropertyPath path, JsonElement value) : PushCondition
{
    public override bool Matches(PushEventContext e, string? displayName) =>
        path.TryResolve(e.Event, out var actual) && ScalarEquals.Equal(actual, value);
}

/// <summary><c>event_property_contains</c>: an array property contains the value exactly (compound items are ignored).</summary>
public sealed class EventPropertyContains(PropertyPath path, JsonElement value) : PushCondition
{
    public override bool Matches(PushEventContext e, string? displayName)
    {
        if (!path.TryResolve(e.Event, out var actual) || actual.ValueKind != JsonValueKind.Array)
        {
            return false;
        }

        foreach (var item in actual.EnumerateArray())
        {
            if (ScalarEquals.Equal(item, value))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// <c>contains_display_name</c> (deprecated in v1.17 but still defined): <c>content.body</c> contains the owner's display
/// name in the room as a whole word sequence. The name is taken literally (a display name of <c>*</c> is not a wildcard).
/// </summary>
public sealed class ContainsDisplayName : PushCondition
{
    public static readonly ContainsDisplayName Instance = new();

    public override bool Matches(PushEventContext e, string? displayName) =>
        !string.IsNullOrEmpty(displayName) && e.Body is { } body && Glob.ContainsWords(body, displayName);
}

/// <summary><c>room_member_count</c>: the joined member count compared with <c>==</c> (default), <c>&lt;</c>, <c>&gt;</c>, <c>&lt;=</c> or <c>&gt;=</c>.</summary>
public sealed class RoomMemberCount : PushCondition
{
    private RoomMemberCount(string op, long number)
    {
        Operator = op;
        Number = number;
    }

    public string Operator { get; }

    public long Number { get; }

    public static bool TryParse(string expression, out RoomMemberCount condition)
    {
        condition = null!;
        var digitsAt = 0;
        while (digitsAt < expression.Length && expression[digitsAt] is '=' or '<' or '>')
        {
            digitsAt++;
        }

        var op = expression[..digitsAt];
        if (op is not ("" or "==" or "<" or ">" or "<=" or ">=")
            || !long.TryParse(expression.AsSpan(digitsAt), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }

        condition = new RoomMemberCount(op.Length == 0 ? "==" : op, n);
        return true;
    }

    public override bool Matches(PushEventContext e, string? displayName) => Operator switch
    {
        "==" => e.JoinedMemberCount == Number,
        "<" => e.JoinedMemberCount < Number,
        ">" => e.JoinedMemberCount > Number,
        "<=" => e.JoinedMemberCount <= Number,
        ">=" => e.JoinedMemberCount >= Number,
        _ => false,
    };
}

/// <summary><c>sender_notification_permission</c>: the sender's power level reaches <c>notifications[key]</c> of the power levels.</summary>
public sealed class SenderNotificationPermission(string key) : PushCondition
{
    public override bool Matches(PushEventContext e, string? displayName) => e.SenderPowerLevel >= e.NotificationLevel(key);
}

/// <summary>The predefined condition of a room rule: the event is in the room named by the rule ID.</summary>
public sealed class RoomIs(string roomId) : PushCondition
{
    public override bool Matches(PushEventContext e, string? displayName) => e.RoomId == roomId;
}

/// <summary>The predefined condition of a sender rule: the event was sent by the user named by the rule ID.</summary>
public sealed class SenderIs(string userId) : PushCondition
{
    public override bool Matches(PushEventContext e, string? displayName) => e.Sender == userId;
}

/// <summary>Equality of the non-compound canonical JSON values (strings, integers in ±(2^53-1), booleans, null); no casts.</summary>
internal static class ScalarEquals
{
    private const long MaxSafe = (1L << 53) - 1;

    public static bool Equal(JsonElement a, JsonElement b)
    {
        switch (a.ValueKind)
        {
            case JsonValueKind.String:
                return b.ValueKind == JsonValueKind.String && a.GetString() == b.GetString();
            case JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null:
                return a.ValueKind == b.ValueKind;
            case JsonValueKind.Number:
                return IsCanonicalInteger(a) && IsCanonicalInteger(b) && a.GetInt64() == b.GetInt64();
            default:
                return false;
        }
    }

    public static bool IsCanonicalInteger(JsonElement e) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var n) && n is >= -MaxSafe and <= MaxSafe;
}
