namespace Homeserver.Crypto;

/// <summary>
/// A JSON value cannot be encoded as canonical JSON: a number the mode forbids, a duplicate key, a lone surrogate or
/// invalid UTF-8 in a string. Callers turn it into <c>M_BAD_JSON</c> (client API) or drop the event (federation);
/// see https://spec.matrix.org/v1.19/rooms/v6/#canonical-json.
/// </summary>
public sealed class CanonicalJsonException : Exception
{
    public CanonicalJsonException()
        : this("The value is not valid canonical JSON.")
    {
    }

    public CanonicalJsonException(string problem)
        : this(problem, path: null)
    {
    }

    public CanonicalJsonException(string problem, Exception innerException)
        : base(problem, innerException)
    {
        Problem = problem;
    }

    private CanonicalJsonException(string problem, string? path)
        : base(path is null ? problem : $"{problem} (at {path})")
    {
        Problem = problem;
        Path = path;
    }

    /// <summary>What is wrong, without the location.</summary>
    public string Problem { get; }

    /// <summary>Where, as a dotted path with array indexes (<c>content.info[2].size</c>); null for the root.</summary>
    public string? Path { get; }

    /// <summary>The same problem, one level further out: <paramref name="segment"/> is a key or an <c>[index]</c>.</summary>
    internal CanonicalJsonException Within(string segment)
    {
        var path = Path is null ? segment : Path[0] == '[' ? segment + Path : segment + "." + Path;
        return new CanonicalJsonException(Problem, path);
    }
}
