using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;

namespace Homeserver.Push.Rules;

/// <summary>
/// The changes <c>/pushrules/global/{kind}/{ruleId}[/enabled|/actions]</c> make to a user's stored rules, as pure
/// functions from the current rows to the new rows. Validation errors are the wire errors: a malformed rule is
/// <c>400 M_INVALID_PARAM</c>, an unknown <c>before</c>/<c>after</c> rule <c>400 M_UNKNOWN</c> (the spec's example),
/// an unknown rule <c>404 M_NOT_FOUND</c>.
/// </summary>
public static class PushRuleEdits
{
    /// <summary>A user may hold this many rules of their own (a bound on storage and on evaluation time).</summary>
    public const int MaxUserRules = 500;

    /// <summary>Creates or replaces a user-defined rule (<c>PUT /pushrules/global/{kind}/{ruleId}</c>).</summary>
    public static IReadOnlyList<StoredPushRule> Put(
        IReadOnlyList<StoredPushRule> current, PushRuleKind kind, string ruleId, JsonElement body, string? before, string? after)
    {
        ValidateRuleId(ruleId);
        if (ruleId.StartsWith('.'))
        {
            throw MatrixException.InvalidParam("Rule IDs starting with '.' are reserved for server-default rules");
        }

        if (body.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("The rule must be a JSON object");
        }

        JsonArray? conditions = null;
        string? pattern = null;
        switch (kind)
        {
            case PushRuleKind.Override or PushRuleKind.Underride:
                if (!body.TryGetProperty("conditions", out var c) || c.ValueKind != JsonValueKind.Array)
                {
                    throw MatrixException.InvalidParam("Override and underride rules need a 'conditions' array");
                }

                foreach (var condition in c.EnumerateArray())
                {
                    if (condition.ValueKind != JsonValueKind.Object || !condition.TryGetProperty("kind", out var k) || k.ValueKind != JsonValueKind.String)
                    {
                        throw MatrixException.InvalidParam("Every condition needs a 'kind'");
                    }
                }

                conditions = JsonNode.Parse(c.GetRawText())!.AsArray();
                break;
            case PushRuleKind.Content:
                if (!body.TryGetProperty("pattern", out var p) || p.ValueKind != JsonValueKind.String)
                {
                    throw MatrixException.InvalidParam("Content rules need a 'pattern' string");
                }

                pattern = p.GetString();
                break;
        }

        var actions = ParseActions(body);
        var rules = current.ToList();
        var existing = rules.FindIndex(r => !r.ServerDefault && r.Kind == kind && r.RuleId == ruleId);
        var ofKind = rules.Where(r => !r.ServerDefault && r.Kind == kind).OrderBy(r => r.Position).ToList();
        if (existing < 0 && rules.Count(r => !r.ServerDefault) >= MaxUserRules)
        {
            throw new MatrixException(MatrixErrorCode.ResourceLimitExceeded, 400, $"At most {MaxUserRules} push rules per user");
        }

        var rule = new StoredPushRule(kind, ruleId, ServerDefault: false, 0, conditions, pattern, actions, existing >= 0 ? rules[existing].Enabled : true);
        var ordered = ofKind.Where(r => r.RuleId != ruleId).ToList();
        if (!string.IsNullOrEmpty(before) || !string.IsNullOrEmpty(after))
        {
            var anchorId = !string.IsNullOrEmpty(before) ? before! : after!;
            var anchor = ordered.FindIndex(r => r.RuleId == anchorId);
            if (anchor < 0)
            {
                throw MatrixException.Unknown($"before/after rule not found: {anchorId}");
            }

            ordered.Insert(!string.IsNullOrEmpty(before) ? anchor : anchor + 1, rule);
        }
        else if (existing >= 0)
        {
            ordered.Insert(ofKind.FindIndex(r => r.RuleId == ruleId), rule);
        }
        else
        {
            // A new rule without before/after is the most important user rule of its kind.
            ordered.Insert(0, rule);
        }

        var result = rules.Where(r => r.ServerDefault || r.Kind != kind).ToList();
        result.AddRange(ordered.Select((r, i) => r with { Position = i }));
        return result;
    }

    /// <summary>Deletes a user-defined rule. Server-default rules cannot be deleted (only disabled).</summary>
    public static IReadOnlyList<StoredPushRule> Delete(IReadOnlyList<StoredPushRule> current, string userId, PushRuleKind kind, string ruleId)
    {
        if (DefaultPushRules.For(userId).Any(d => d.Kind == kind && d.RuleId == ruleId))
        {
            throw MatrixException.InvalidParam("Server-default rules cannot be deleted; disable them instead");
        }

        var index = current.ToList().FindIndex(r => !r.ServerDefault && r.Kind == kind && r.RuleId == ruleId);
        if (index < 0)
        {
            throw MatrixException.NotFound("The push rule was not found.");
        }

        return current.Where((_, i) => i != index).ToList();
    }

    /// <summary>Enables or disables a rule (<c>PUT .../enabled</c>); for a server-default rule the change is stored beside it.</summary>
    public static IReadOnlyList<StoredPushRule> SetEnabled(IReadOnlyList<StoredPushRule> current, string userId, PushRuleKind kind, string ruleId, JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("enabled", out var e) || e.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            throw MatrixException.InvalidParam("'enabled' must be a boolean");
        }

        return Change(current, userId, kind, ruleId, r => r with { Enabled = e.GetBoolean() });
    }

    /// <summary>Replaces a rule's actions (<c>PUT .../actions</c>), server-default rules included.</summary>
    public static IReadOnlyList<StoredPushRule> SetActions(IReadOnlyList<StoredPushRule> current, string userId, PushRuleKind kind, string ruleId, JsonElement body)
    {
        var actions = ParseActions(body);
        return Change(current, userId, kind, ruleId, r => r with { Actions = actions });
    }

    /// <summary>Rule IDs may not contain slashes or backslashes (they are path segments).</summary>
    public static void ValidateRuleId(string ruleId)
    {
        if (ruleId.Length == 0 || ruleId.Contains('/') || ruleId.Contains('\\'))
        {
            throw MatrixException.InvalidParam("rule_id may not be empty or contain slashes");
        }
    }

    private static IReadOnlyList<StoredPushRule> Change(
        IReadOnlyList<StoredPushRule> current, string userId, PushRuleKind kind, string ruleId, Func<StoredPushRule, StoredPushRule> change)
    {
        var rules = current.ToList();
        if (ruleId.StartsWith('.'))
        {
            if (!DefaultPushRules.For(userId).Any(d => d.Kind == kind && d.RuleId == ruleId))
            {
                throw MatrixException.NotFound("The push rule was not found.");
            }

            var at = rules.FindIndex(r => r.ServerDefault && r.Kind == kind && r.RuleId == ruleId);
            var row = at >= 0 ? rules[at] : new StoredPushRule(kind, ruleId, ServerDefault: true, 0, null, null, null, null);
            if (at >= 0)
            {
                rules[at] = change(row);
            }
            else
            {
                rules.Add(change(row));
            }

            return rules;
        }

        var index = rules.FindIndex(r => !r.ServerDefault && r.Kind == kind && r.RuleId == ruleId);
        if (index < 0)
        {
            throw MatrixException.NotFound("The push rule was not found.");
        }

        rules[index] = change(rules[index]);
        return rules;
    }

    private static JsonArray ParseActions(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("actions", out var a) || a.ValueKind != JsonValueKind.Array)
        {
            throw MatrixException.InvalidParam("'actions' must be an array");
        }

        foreach (var action in a.EnumerateArray())
        {
            var ok = action.ValueKind switch
            {
                JsonValueKind.String => action.GetString() is "notify" or "dont_notify" or "coalesce",
                JsonValueKind.Object => action.TryGetProperty("set_tweak", out var t) && t.ValueKind == JsonValueKind.String,
                _ => false,
            };
            if (!ok)
            {
                throw MatrixException.InvalidParam($"Unrecognised action: {action.GetRawText()}");
            }
        }

        return JsonNode.Parse(a.GetRawText())!.AsArray();
    }
}
