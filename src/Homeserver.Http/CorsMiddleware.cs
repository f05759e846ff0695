using Microsoft.AspNetCore.Http;

namespace Homeserver.Http;

/// <summary>
/// The CORS headers the client-server spec asks for on every answer ("Web Browser Clients"), and
/// a 200 answer to every OPTIONS preflight, so that Element Web on another origin can talk to us.
/// </summary>
public sealed class CorsMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        AddHeaders(context.Response);
        if (HttpMethods.IsOptions(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = 2;
            return context.Response.Body.WriteAsync("{}"u8.ToArray(), context.RequestAborted).AsTask();
        }

        return next(context);
    }

    public static void AddHeaders(HttpResponse response)
    {
        response.Headers.AccessControlAllowOrigin = "*";
        response.Headers.AccessControlAllowMethods = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
        response.Headers.AccessControlAllowHeaders = "X-Requested-With, Content-Type, Authorization, Date";
    }
}
