using System.Text.Json;
using Homeserver.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Homeserver.Http;

/// <summary>
/// The one place where errors become HTTP answers: <see cref="MatrixException"/> as its status and
/// <c>{"errcode", "error"}</c>; anything unexpected is logged and answered 500 <c>M_UNKNOWN</c> without details.
/// Also turns bodiless 404/405 answers of the router into <c>M_UNRECOGNIZED</c>, as the spec asks.
/// </summary>
public sealed partial class MatrixErrorMiddleware(RequestDelegate next, ILogger<MatrixErrorMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
            if (!context.Response.HasStarted && context.Response.ContentLength is null && context.Response.ContentType is null)
            {
                if (context.Response.StatusCode == StatusCodes.Status404NotFound)
                {
                    await WriteAsync(context, new MatrixException(MatrixErrorCode.Unrecognized, 404, "Unrecognized request"));
                }
                else if (context.Response.StatusCode == StatusCodes.Status405MethodNotAllowed)
                {
                    await WriteAsync(context, new MatrixException(MatrixErrorCode.Unrecognized, 405, "Unrecognized request method"));
                }
            }
        }
        catch (MatrixException e)
        {
            await WriteAsync(context, e);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await WriteAsync(context, MatrixException.TooLarge("Request body too large"));
        }
        catch (BadHttpRequestException e)
        {
            await WriteAsync(context, new MatrixException(MatrixErrorCode.Unknown, e.StatusCode, "Bad request"));
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
        catch (Exception e)
        {
            LogUnhandled(e, context.Request.Method, context.Request.Path);
            await WriteAsync(context, new MatrixException(MatrixErrorCode.Unknown, 500, "Internal server error"));
        }
    }

    public static async Task WriteAsync(HttpContext context, MatrixException e)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        context.Response.Clear();
        context.Response.StatusCode = e.HttpStatus;
        context.Response.ContentType = "application/json";
        if (e.ErrorCode == MatrixErrorCode.LimitExceeded && e.Extra?.TryGetValue("retry_after_ms", out var ms) == true && ms is long retryMs)
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (retryMs + 999) / 1000).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        CorsMiddleware.AddHeaders(context.Response);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            if (e.ErrorCode is not null)
            {
                w.WriteString("errcode"u8, e.ErrorCode);
                w.WriteString("error"u8, e.Message);
            }

            if (e.Extra is not null)
            {
                foreach (var (key, value) in e.Extra)
                {
                    w.WritePropertyName(key);
                    JsonSerializer.Serialize(w, value, value?.GetType() ?? typeof(object), JsonDefaults.Options);
                }
            }

            w.WriteEndObject();
        }

        context.Response.ContentLength = buffer.WrittenCount;
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled error in {Method} {Path}")]
    private partial void LogUnhandled(Exception e, string method, string path);
}
