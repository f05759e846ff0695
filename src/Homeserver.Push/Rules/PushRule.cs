using System.Text.Json.Nodes;

namespace Homeserver.Push.Rules;

/// <summary>The five kinds of push rules, in the order they are checked ("Push Rules").</summary>
public enum PushRuleKind
{
    Override,
    Content,
    Room,
    Sender,
    Underride,
}

public static class PushRuleKinds
{
    /// <summary>Every kind in evaluation order.</summary>
    public static readonly IReadOnlyList<PushRuleKind> InOrder =
        [PushRuleKind.Override, PushRuleKind.Content, PushRuleKind.Room, PushRuleKind.Sender, PushRuleKind.Underride];

    public static string Name(this PushRuleKind kind) => kind switch
    {
        PushRuleKind.Override => "override",
        PushRuleKind.Content => "content",
        PushRuleKind.Room => "room",
        PushRuleKind.Sender => "sender",
        PushRuleKind.Underride => "underride",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static bool TryParse(string name, out PushRuleKind kind)
    {
        foreach (var k in InOrder)
        {
            if (k.Name() == name)
            {
                kind = k;
                return true;
            }
        }

        kind = default;
        return false;
    }
}

/// <summary>
/// One push rule as the client-server API shows it (<c>PushRule</c> schema). Conditions and actions are kept as the
/// JSON the user gave (actions such as <c>dont_notify</c> are returned as stored, and only ignored when evaluating).
/// Room and sender rules have no conditions on the wire: their rule ID is their condition.
/// </summary>
public sealed record PushRule(
    PushRuleKind Kind,
    string RuleId,
    bool Default,
    bool Enabled,
    JsonArray Actions,
    JsonArray? Conditions = null,
    string? Pattern = null)
{
    public bool IsServerDefault => RuleId.StartsWith('.');

    /// <summary>The rule in the client-server API's format.</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["rule_id"] = RuleId,
            ["default"] = Default,
            ["enabled"] = Enabled,
            ["actions"] = Actions.DeepClone(),
        };
        if (Conditions is not null)
        {
            o["conditions"] = Conditions.DeepClone();
        }

        if (Pattern is not null)
        {
            o["pattern"] = Pattern;
        }

        return o;
    }
}
