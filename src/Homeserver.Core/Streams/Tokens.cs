using System.Globalization;

namespace Homeserver.Core.Streams;

/// <summary>
/// The <c>since</c>/<c>next_batch</c> token of <c>/sync</c>: positions in every stream a client follows.
/// Persisted streams (room events, account data, receipts, presence, to-device, device lists...) share one
/// global position (<see cref="StreamPositions"/>); typing notifications live in memory and have their own
/// serial. Format (frozen, versioned): <c>s1_&lt;stream&gt;_&lt;typing&gt;</c>, both decimal.
/// The typing serial of a process starts at its start time in Unix milliseconds, so a serial from before a
/// restart is below every serial of the new process; the typing module then resends the typing list of every
/// joined room instead of trusting it (see TypingService). A stream position ahead of the server's (a reset
/// database) is bounded to the current position.
/// </summary>
public readonly record struct SyncToken(long Stream, long Typing)
{
    private const string Prefix = "s1_";

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Prefix}{Stream}_{Typing}");

    public static bool TryParse(string? text, out SyncToken token)
    {
        token = default;
        if (text is null || !text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var parts = text[Prefix.Length..].Split('_');
        if (parts.Length != 2
            || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var stream)
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var typing))
        {
            return false;
        }

        token = new SyncToken(stream, typing);
        return true;
    }
}

/// <summary>
/// A position in one room's timeline for <c>/messages</c>: either a stream position (<c>s&lt;stream&gt;</c>, what
/// <c>/sync</c>'s <c>prev_batch</c> and <c>next_batch</c> give) or a topological one (<c>t&lt;depth&gt;-&lt;stream&gt;</c>,
/// what <c>/messages</c> hands out), as Synapse writes them. A /sync token is accepted too (its stream part).
/// Events are ordered by (topological ordering, stream ordering); a stream-only token means
/// "everything up to that stream position", whatever the depth. Events backfilled from other servers have negative
/// stream orderings (they come before everything sync has handed out), so a topological token's stream part may be
/// negative: <c>t5--3</c>, as Synapse writes it.
/// </summary>
public readonly record struct PaginationToken(long? Topological, long Stream)
{
    public override string ToString() => Topological is { } t
        ? string.Create(CultureInfo.InvariantCulture, $"t{t}-{Stream}")
        : string.Create(CultureInfo.InvariantCulture, $"s{Stream}");

    public static bool TryParse(string? text, out PaginationToken token)
    {
        token = default;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        if (SyncToken.TryParse(text, out var sync))
        {
            token = new PaginationToken(null, sync.Stream);
            return true;
        }

        if (text[0] == 's' && long.TryParse(text.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var s))
        {
            token = new PaginationToken(null, s);
            return true;
        }

        if (text[0] == 't')
        {
            var dash = text.IndexOf('-', 1);
            if (dash > 1
                && long.TryParse(text.AsSpan(1, dash - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var topo)
                && long.TryParse(text.AsSpan(dash + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var st))
            {
                token = new PaginationToken(topo, st);
                return true;
            }
        }

        return false;
    }
}
