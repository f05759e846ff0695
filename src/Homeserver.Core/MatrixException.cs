namespace Homeserver.Core;

/// <summary>
/// The one error type that reaches the wire: an HTTP status plus <c>{"errcode", "error"}</c>
/// and optional extra top-level fields (for example <c>retry_after_ms</c>).
/// </summary>
public sealed class MatrixException : Exception
{
    public MatrixException(string? errorCode, int httpStatus, string message, IReadOnlyDictionary<string, object?>? extra = null)
        : base(message)
    {
        ErrorCode = errorCode;
        HttpStatus = httpStatus;
        Extra = extra;
    }

    /// <summary>The errcode; null for answers that are not errors in shape (the first 401 of user-interactive auth).</summary>
    public string? ErrorCode { get; }

    public int HttpStatus { get; }

    /// <summary>Extra fields written beside errcode and error (values serialised as JSON).</summary>
    public IReadOnlyDictionary<string, object?>? Extra { get; }

    public static MatrixException Forbidden(string message) => new(MatrixErrorCode.Forbidden, 403, message);

    public static MatrixException NotFound(string message) => new(MatrixErrorCode.NotFound, 404, message);

    public static MatrixException BadJson(string message) => new(MatrixErrorCode.BadJson, 400, message);

    public static MatrixException NotJson(string message) => new(MatrixErrorCode.NotJson, 400, message);

    public static MatrixException MissingParam(string message) => new(MatrixErrorCode.MissingParam, 400, message);

    public static MatrixException InvalidParam(string message) => new(MatrixErrorCode.InvalidParam, 400, message);

    public static MatrixException Unknown(string message) => new(MatrixErrorCode.Unknown, 400, message);

    public static MatrixException TooLarge(string message) => new(MatrixErrorCode.TooLarge, 413, message);

    public static MatrixException Unrecognized(string message, int status = 404) => new(MatrixErrorCode.Unrecognized, status, message);

    public static MatrixException LimitExceeded(long retryAfterMs) => new(
        MatrixErrorCode.LimitExceeded, 429, "Too many requests",
        new Dictionary<string, object?> { ["retry_after_ms"] = retryAfterMs });
}
