using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Homeserver.TestKit;

/// <summary>A small raw-HTTP Matrix client for integration tests: JSON in, status and JSON out.</summary>
public sealed class MatrixClient(HttpClient http)
{
    public string? AccessToken { get; set; }

    public string? UserId { get; set; }

    public string? DeviceId { get; set; }

    public HttpClient Http => http;

    public sealed record Response(HttpStatusCode Status, JsonElement Json, HttpResponseMessage Raw)
    {
        public string? ErrCode => Json.ValueKind == JsonValueKind.Object && Json.TryGetProperty("errcode", out var e) ? e.GetString() : null;

        public Response EnsureOk()
        {
            if (Status != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"expected 200, got {(int)Status}: {Json}");
            }

            return this;
        }
    }

    public Task<Response> GetAsync(string path) => SendAsync(HttpMethod.Get, path, null);

    public Task<Response> PostAsync(string path, object? body) => SendAsync(HttpMethod.Post, path, body);

    public Task<Response> PutAsync(string path, object? body) => SendAsync(HttpMethod.Put, path, body);

    public Task<Response> DeleteAsync(string path, object? body = null) => SendAsync(HttpMethod.Delete, path, body);

    public async Task<Response> SendAsync(HttpMethod method, string path, object? body, string? rawBody = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (AccessToken is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AccessToken);
        }

        if (rawBody is not null)
        {
            request.Content = new StringContent(rawBody, Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }
        else if (body is not null)
        {
            var json = body is JsonNode node ? node.ToJsonString() : JsonSerializer.Serialize(body);
            request.Content = new StringContent(json, Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        JsonElement parsed = default;
        if (text.Length > 0 && response.Content.Headers.ContentType?.MediaType == "application/json")
        {
            parsed = JsonDocument.Parse(text).RootElement.Clone();
        }

        return new Response(response.StatusCode, parsed, response);
    }

    /// <summary>Registers a new user with the dummy flow and keeps its token.</summary>
    public async Task<MatrixClient> RegisterAsync(string? username = null, string password = "correct horse battery staple")
    {
        username ??= "user" + Guid.NewGuid().ToString("N")[..10];
        var first = await PostAsync("/_matrix/client/v3/register", new { username, password });
        if (first.Status != HttpStatusCode.Unauthorized)
        {
            throw new InvalidOperationException($"expected a UIA challenge, got {(int)first.Status}: {first.Json}");
        }

        var session = first.Json.GetProperty("session").GetString();
        var done = (await PostAsync("/_matrix/client/v3/register", new { username, password, auth = new { type = "m.login.dummy", session } })).EnsureOk();
        AccessToken = done.Json.GetProperty("access_token").GetString();
        UserId = done.Json.GetProperty("user_id").GetString();
        DeviceId = done.Json.GetProperty("device_id").GetString();
        return this;
    }
}
