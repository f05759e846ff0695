namespace Homeserver.Rooms.Auth;

/// <summary>
/// The outcome of an authorisation check: allowed, or rejected by a named rule with a readable reason.
/// <see cref="Rule"/> is a stable identifier such as <c>member.join.banned</c> (for logs, metrics and tests);
/// <see cref="Reason"/> is for humans.
/// </summary>
public readonly record struct AuthResult
{
    private AuthResult(bool allowed, string? rule, string? reason)
    {
        Allowed = allowed;
        Rule = rule;
        Reason = reason;
    }

    public static AuthResult Allow { get; } = new(true, null, null);

    public bool Allowed { get; }

    public string? Rule { get; }

    public string? Reason { get; }

    public static AuthResult Reject(string rule, string reason) => new(false, rule, reason);

    public override string ToString() => Allowed ? "allowed" : "rejected by " + Rule + ": " + Reason;
}
