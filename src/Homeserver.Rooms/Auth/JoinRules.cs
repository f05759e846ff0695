using System.Text.Json;

namespace Homeserver.Rooms.Auth;

/// <summary>One entry of the <c>allow</c> list of a restricted join rule (<c>m.room.join_rules</c> schema).</summary>
public sealed record JoinRuleAllow(string Type, string? RoomId);

/// <summary>A parsed view of <c>m.room.join_rules</c>.</summary>
public sealed class JoinRules
{
    private JoinRules(string rule, IReadOnlyList<JoinRuleAllow> allow, bool present)
    {
        Rule = rule;
        Allow = allow;
        IsPresent = present;
    }

    /// <summary>
    /// The join rule. When the room has no join rules event, or its content has no string <c>join_rule</c>,
    /// this is <c>invite</c>: the spec is silent and Synapse and other servers default to it.
    /// </summary>
    public string Rule { get; }

    /// <summary>The <c>allow</c> conditions (restricted and knock_restricted rooms); empty when absent or malformed.</summary>
    public IReadOnlyList<JoinRuleAllow> Allow { get; }

    /// <summary>Whether the room state had a join rules event.</summary>
    public bool IsPresent { get; }

    public static JoinRules From(Pdu? joinRules)
    {
        if (joinRules is null)
        {
            return new JoinRules(JoinRule.Invite, [], present: false);
        }

        var rule = Json.GetString(joinRules.Content, "join_rule") ?? JoinRule.Invite;
        var allow = new List<JoinRuleAllow>();
        if (Json.TryGetProperty(joinRules.Content, "allow", out var arr) && arr.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in arr.EnumerateArray())
            {
                if (Json.GetString(item, "type") is { } type)
                {
                    allow.Add(new JoinRuleAllow(type, Json.GetString(item, "room_id")));
                }
            }
        }

        return new JoinRules(rule, allow, present: true);
    }
}
