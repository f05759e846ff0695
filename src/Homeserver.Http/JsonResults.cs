using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Homeserver.Http;

/// <summary>Writes JSON answers, HTTP 200 by default (SyTest and several clients treat 201/204 as failures).</summary>
public static class JsonResults
{
    private static readonly byte[] EmptyObject = "{}"u8.ToArray();

    public static IResult Empty() => new JsonBytesResult(EmptyObject, 200);

    public static IResult Json<T>(T value, int status = 200) =>
        new JsonBytesResult(JsonSerializer.SerializeToUtf8Bytes(value, JsonDefaults.Options), status);

    public static IResult Node(JsonNode node, int status = 200) =>
        new JsonBytesResult(JsonSerializer.SerializeToUtf8Bytes(node, JsonDefaults.Options), status);

    public static IResult Raw(byte[] utf8Json, int status = 200) => new JsonBytesResult(utf8Json, status);

    private sealed class JsonBytesResult(byte[] body, int status) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            response.StatusCode = status;
            response.ContentType = "application/json";
            response.ContentLength = body.Length;
            return response.Body.WriteAsync(body, httpContext.RequestAborted).AsTask();
        }
    }
}
