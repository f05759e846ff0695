using System.Text.Json.Nodes;

namespace Homeserver.Push.Rules;

/// <summary>
/// A stored row of a user's push rules: either a user-defined rule (<see cref="ServerDefault"/> false, with its
/// conditions/pattern and actions) or a user's change to a server-default rule (only <see cref="Enabled"/> and/or
/// <see cref="Actions"/> set). <see cref="Position"/> orders user rules of one kind, lowest first (most important).
/// </summary>
public sealed record StoredPushRule(
    PushRuleKind Kind,
    string RuleId,
    bool ServerDefault,
    int Position,
    JsonArray? Conditions,
    string? Pattern,
    JsonArray? Actions,
    bool? Enabled);

/// <summary>
/// A user's whole ruleset: the server-default rules (with the user's changes) and the user's own rules, in evaluation
/// order. Within each kind user rules come first, except <c>.m.rule.master</c>, which is always first of all
/// ("Predefined Rules").
/// </summary>
public sealed class PushRuleSet
{
    private PushRuleSet(string userId, IReadOnlyList<PushRule> rules)
    {
        UserId = userId;
        Rules = rules;
    }

    public string UserId { get; }

    /// <summary>Every rule in evaluation order.</summary>
    public IReadOnlyList<PushRule> Rules { get; }

    public static PushRuleSet Build(string userId, IReadOnlyList<StoredPushRule> stored)
    {
        var changes = stored.Where(s => s.ServerDefault).ToDictionary(s => (s.Kind, s.RuleId));
        var defaults = DefaultPushRules.For(userId).Select(d => changes.TryGetValue((d.Kind, d.RuleId), out var c)
            ? d with { Enabled = c.Enabled ?? d.Enabled, Actions = c.Actions ?? d.Actions }
            : d).ToList();

        var rules = new List<PushRule>();
        foreach (var kind in PushRuleKinds.InOrder)
        {
            if (kind == PushRuleKind.Override)
            {
                rules.AddRange(defaults.Where(d => d.RuleId == DefaultPushRules.Master));
            }

            foreach (var s in stored.Where(s => !s.ServerDefault && s.Kind == kind).OrderBy(s => s.Position))
            {
                rules.Add(new PushRule(
                    kind,
                    s.RuleId,
                    Default: false,
                    s.Enabled ?? true,
                    s.Actions ?? [],
                    kind is PushRuleKind.Override or PushRuleKind.Underride ? s.Conditions ?? [] : null,
                    kind == PushRuleKind.Content ? s.Pattern : null));
            }

            rules.AddRange(defaults.Where(d => d.Kind == kind && d.RuleId != DefaultPushRules.Master));
        }

        return new PushRuleSet(userId, rules);
    }

    public PushRule? Find(PushRuleKind kind, string ruleId) => Rules.FirstOrDefault(r => r.Kind == kind && r.RuleId == ruleId);

    /// <summary>The ruleset as <c>GET /pushrules/</c> and the <c>m.push_rules</c> account data show it.</summary>
    public JsonObject ToJson() => new()
    {
        ["global"] = GlobalToJson(),
        ["device"] = new JsonObject(),
    };

    public JsonObject GlobalToJson()
    {
        var global = new JsonObject();
        foreach (var kind in PushRuleKinds.InOrder)
        {
            global[kind.Name()] = KindToJson(kind);
        }

        return global;
    }

    public JsonArray KindToJson(PushRuleKind kind) => [.. Rules.Where(r => r.Kind == kind).Select(r => (JsonNode)r.ToJson())];

    /// <summary>Compiles the enabled rules for evaluation.</summary>
    public CompiledPushRules Compile() => new(Rules.Where(r => r.Enabled).Select(CompiledPushRule.From).ToList());
}

/// <summary>One enabled rule ready to be checked: its conditions compiled and its actions parsed.</summary>
public sealed class CompiledPushRule
{
    // Arrays, here and in CompiledPushRules: every event is evaluated for every local member, rule by rule, and a
    // foreach over an IReadOnlyList allocates its enumerator each time (the largest allocation of a busy room's sends).
    private readonly PushCondition[] _conditions;

    private CompiledPushRule(PushRule rule, PushCondition[] conditions, PushActions actions)
    {
        Rule = rule;
        _conditions = conditions;
        Actions = actions;
    }

    public PushRule Rule { get; }

    public IReadOnlyList<PushCondition> Conditions => _conditions;

    public PushActions Actions { get; }

    public static CompiledPushRule From(PushRule rule)
    {
        PushCondition[] conditions = rule.Kind switch
        {
            PushRuleKind.Override or PushRuleKind.Underride => (rule.Conditions ?? []).Select(PushCondition.Compile).ToArray(),
            PushRuleKind.Content => [rule.Pattern is null ? Never.Instance : new EventMatch(PropertyPath.Parse("content.body"), rule.Pattern)],
            PushRuleKind.Room => [new RoomIs(rule.RuleId)],
            PushRuleKind.Sender => [new SenderIs(rule.RuleId)],
            _ => [Never.Instance],
        };
        return new CompiledPushRule(rule, conditions, PushActions.Parse(rule.Actions));
    }

    public bool Matches(PushEventContext e, string? displayName)
    {
        foreach (var c in _conditions)
        {
            if (!c.Matches(e, displayName))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>A user's enabled rules in evaluation order; the first rule whose conditions all hold decides the actions.</summary>
public sealed class CompiledPushRules
{
    private readonly CompiledPushRule[] _rules;

    public CompiledPushRules(IReadOnlyList<CompiledPushRule> rules)
    {
        _rules = [.. rules];
        OthersMembershipNeverNotifies = DecideOthersMembership(_rules);
    }

    public IReadOnlyList<CompiledPushRule> Rules => _rules;

    /// <summary>
    /// True when no <c>m.room.member</c> event about someone else (its state key is not the owner) can notify the owner,
    /// whatever its content: the rules decide that before any rule that looks further, so the evaluator need not run
    /// them for such an event. Each join or leave of a room is evaluated for every local member, which made a join
    /// cost O(members) of rule evaluation (30% of the CPU of 10,000 joins into one room). The spec's evaluation stays
    /// exact: this holds only when the result is known without evaluating.
    /// </summary>
    public bool OthersMembershipNeverNotifies { get; }

    // With the server-default overrides, `.m.rule.member_event` (any m.room.member event, no notification) ends the
    // evaluation of such an event. The enabled rules before it (`.m.rule.master`, the user's own overrides,
    // `.m.rule.suppress_notices`, `.m.rule.invite_for_me`) either do not notify when they match (the first matching
    // rule decides), or are `.m.rule.invite_for_me`, whose conditions (state_key is the owner) exclude others'
    // membership. A user may change a server-default rule's actions or disable it, not its conditions.
    private static bool DecideOthersMembership(CompiledPushRule[] rules)
    {
        foreach (var rule in rules)
        {
            if (rule.Rule is { Default: true, Kind: PushRuleKind.Override, RuleId: DefaultPushRules.MemberEvent })
            {
                return !rule.Actions.Notify;
            }

            if (rule.Actions.Notify && rule.Rule is not { Default: true, Kind: PushRuleKind.Override, RuleId: DefaultPushRules.InviteForMe })
            {
                return false;
            }
        }

        return false; // `.m.rule.member_event` is disabled: rules further on may match membership.
    }

    /// <summary>The matching rule, or null when none matches (then there is no notification).</summary>
    public CompiledPushRule? Evaluate(PushEventContext e, string? displayName)
    {
        foreach (var rule in _rules)
        {
            if (rule.Matches(e, displayName))
            {
                return rule;
            }
        }

        return null;
    }
}
