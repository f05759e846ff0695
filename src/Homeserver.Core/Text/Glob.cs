using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace Homeserver.Core.Text;

/// <summary>
/// Glob matching (appendices, "Glob-style matching": <c>*</c> is any run of characters, <c>?</c> exactly one),
/// case-insensitive, for push rules and server ACLs. A <see cref="GlobMode.Word"/> match succeeds when the glob matches a substring that starts and
/// ends at a word boundary: the start or end of the value, or a character outside <c>[A-Za-z0-9_]</c> (as the spec
/// defines it for <c>content.body</c>). Patterns come from users, so they compile to non-backtracking regular
/// expressions (linear time whatever the pattern) and runs of wildcards are collapsed (<c>?*?*</c> is <c>.{2,}</c>).
/// </summary>
public sealed class Glob
{
    private const int CacheLimit = 10_000;
    private static readonly ConcurrentDictionary<(string, GlobMode), Glob> Cache = new();

    private readonly string? _literal;
    private readonly Regex? _regex;
    private readonly GlobMode _mode;

    private Glob(string pattern, GlobMode mode)
    {
        _mode = mode;
        var lower = pattern.ToLowerInvariant();
        if (mode == GlobMode.Whole && lower.IndexOfAny(['*', '?']) < 0)
        {
            _literal = lower;
            return;
        }

        var body = new StringBuilder();
        var i = 0;
        while (i < lower.Length)
        {
            if (lower[i] is '*' or '?')
            {
                var questionMarks = 0;
                var star = false;
                while (i < lower.Length && lower[i] is '*' or '?')
                {
                    if (lower[i] == '?')
                    {
                        questionMarks++;
                    }
                    else
                    {
                        star = true;
                    }

                    i++;
                }

                body.Append(star ? $".{{{questionMarks},}}" : $".{{{questionMarks}}}");
            }
            else
            {
                var start = i;
                while (i < lower.Length && lower[i] is not ('*' or '?'))
                {
                    i++;
                }

                body.Append(Regex.Escape(lower[start..i]));
            }
        }

        string expression;
        if (mode == GlobMode.Whole)
        {
            expression = $@"\A{body}\z";
        }
        else
        {
            // A pattern that starts (ends) with a literal non-word character carries its own boundary.
            var prefix = lower.Length > 0 && lower[0] is not ('*' or '?') && !IsWordChar(lower[0]) ? string.Empty : "(?:\\A|[^a-z0-9_])";
            var suffix = lower.Length > 0 && lower[^1] is not ('*' or '?') && !IsWordChar(lower[^1]) ? string.Empty : "(?:[^a-z0-9_]|\\z)";
            expression = prefix + body + suffix;
        }

        _regex = new Regex(expression, RegexOptions.NonBacktracking | RegexOptions.Singleline | RegexOptions.CultureInvariant);
    }

    public static Glob Get(string pattern, GlobMode mode)
    {
        if (Cache.TryGetValue((pattern, mode), out var glob))
        {
            return glob;
        }

        if (Cache.Count >= CacheLimit)
        {
            Cache.Clear();
        }

        return Cache.GetOrAdd((pattern, mode), key => new Glob(key.Item1, key.Item2));
    }

    public bool IsMatch(string value)
    {
        var lower = value.ToLowerInvariant();
        if (_literal is not null)
        {
            return lower == _literal;
        }

        return _regex!.IsMatch(lower);
    }

    /// <summary>Whether <paramref name="value"/> contains <paramref name="literal"/> as a whole word sequence (no wildcards in <paramref name="literal"/>).</summary>
    public static bool ContainsWords(string value, string literal)
    {
        if (literal.Length == 0)
        {
            return false;
        }

        var haystack = value.ToLowerInvariant();
        var needle = literal.ToLowerInvariant();
        var from = 0;
        while (from <= haystack.Length - needle.Length)
        {
            var at = haystack.IndexOf(needle, from, StringComparison.Ordinal);
            if (at < 0)
            {
                return false;
            }

            var end = at + needle.Length;
            var startOk = at == 0 || !IsWordChar(haystack[at - 1]) || !IsWordChar(needle[0]);
            var endOk = end == haystack.Length || !IsWordChar(haystack[end]) || !IsWordChar(needle[^1]);
            if (startOk && endOk)
            {
                return true;
            }

            from = at + 1;
        }

        return false;
    }

    private static bool IsWordChar(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_';

    public override string ToString() => _literal ?? _regex!.ToString() + " (" + _mode + ")";
}

public enum GlobMode
{
    /// <summary>The glob must match the whole value.</summary>
    Whole,

    /// <summary>The glob must match a run of the value bounded by word boundaries (<c>content.body</c>).</summary>
    Word,
}
