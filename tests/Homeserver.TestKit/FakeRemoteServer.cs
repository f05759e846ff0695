using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Crypto;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Homeserver.TestKit;

/// <summary>
/// A minimal other homeserver for federation tests: it publishes its signing key over TLS (so our server can
/// verify it) and lets a test sign requests and events as that server — including deliberately broken ones.
/// </summary>
public sealed class FakeRemoteServer : IAsyncLifetime
{
    private WebApplication? _app;

    public Ed25519SigningKey Key { get; } = Ed25519SigningKey.Generate("fake");

    public int Port { get; } = TestServer.FreePort();

    public string ServerName => $"localhost:{Port}";

    private int _userDevicesRequests;

    /// <summary>The answer to <c>GET /_matrix/federation/v1/user/devices/{userId}</c> (null: 404).</summary>
    public Func<string, JsonNode?>? UserDevices { get; set; }

    /// <summary>
    /// Answers requests before the built-in routes do (a test's own make_join, invite, ... answers): return null to
    /// leave a request to them (or to a 404 when none takes it).
    /// </summary>
    public Func<HttpRequest, Task<IResult?>>? Intercept { get; set; }

    /// <summary>How many times another server asked for a device list.</summary>
    public int UserDevicesRequests => Volatile.Read(ref _userDevicesRequests);

    public async Task InitializeAsync()
    {
        var certificates = TestCertificates.Instance;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenLocalhost(Port, o => o.UseHttps(X509Certificate2.CreateFromPemFile(certificates.CertificatePath, certificates.KeyPath))));
        _app = builder.Build();
        _app.Use(async (context, next) =>
        {
            if (Intercept is { } intercept && await intercept(context.Request) is { } answer)
            {
                await answer.ExecuteAsync(context);
                return;
            }

            await next(context);
        });
        _app.MapPut("/_matrix/federation/v1/send/{txnId}", RecordTransactionAsync);
        _app.MapPut("/_matrix/federation/v2/invite/{roomId}/{eventId}", AcceptInviteAsync);
        _app.MapGet("/_matrix/key/v2/server", () => Results.Text(KeyDocument().ToJsonString(), "application/json"));
        _app.MapGet("/_matrix/key/v2/server/{keyId}", () => Results.Text(KeyDocument().ToJsonString(), "application/json"));
        _app.MapGet("/_matrix/federation/v1/user/devices/{userId}", (string userId) =>
        {
            Interlocked.Increment(ref _userDevicesRequests);
            return UserDevices?.Invoke(userId) is { } answer ? Results.Text(answer.ToJsonString(), "application/json") : Results.NotFound();
        });
        await _app.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }

        Key.Dispose();
    }

    private JsonObject KeyDocument()
    {
        var doc = new JsonObject
        {
            ["server_name"] = ServerName,
            ["valid_until_ts"] = DateTimeOffset.UtcNow.AddDays(1).ToUnixTimeMilliseconds(),
            ["verify_keys"] = new JsonObject { [Key.KeyId] = new JsonObject { ["key"] = Key.PublicKeyBase64 } },
            ["old_verify_keys"] = new JsonObject(),
        };
        JsonSigning.SignInPlace(doc, ServerName, Key);
        return doc;
    }

    /// <summary>Sends a request signed as this server and returns the raw answer (the caller disposes it).</summary>
    public Task<HttpResponseMessage> SendRawAsync(HttpClient http, string destination, HttpMethod method, string pathAndQuery)
    {
        var auth = XMatrixAuthorization.Create(method.Method, pathAndQuery, ServerName, destination, null, Key);
        var request = new HttpRequestMessage(method, pathAndQuery);
        request.Headers.TryAddWithoutValidation("Authorization", auth.ToHeaderValue());
        return http.SendAsync(request);
    }

    /// <summary>Sends a request to <paramref name="destination"/> signed as this server (X-Matrix).</summary>
    public async Task<(int Status, JsonElement Json)> SendAsync(HttpClient http, string destination, HttpMethod method, string pathAndQuery, JsonNode? body = null)
    {
        JsonElement? content = body is null ? null : JsonSerializer.SerializeToElement(body);
        var auth = XMatrixAuthorization.Create(method.Method, pathAndQuery, ServerName, destination, content, Key);
        using var request = new HttpRequestMessage(method, pathAndQuery);
        request.Headers.TryAddWithoutValidation("Authorization", auth.ToHeaderValue());
        if (content is { } c)
        {
            request.Content = new ByteArrayContent(CanonicalJson.Encode(c));
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Completes an event template (e.g. from make_join) as this server: origin, time, hashes, signature.</summary>
    public JsonObject SignEvent(JsonObject template, RoomVersion version)
    {
        template["origin_server_ts"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        if (!version.ImplicitRoomCreator)
        {
            template["origin"] = ServerName;
        }

        var signed = EventSigning.HashAndSign(JsonSerializer.SerializeToElement(template), version, ServerName, Key);
        return JsonNode.Parse(signed)!.AsObject();
    }

    public static string EventId(JsonObject ev, RoomVersion version) => EventHashing.GetEventId(JsonSerializer.SerializeToElement(ev), version);

    private readonly ConcurrentQueue<JsonElement> _transactions = new();

    /// <summary>The transactions other servers sent here (<c>PUT /_matrix/federation/v1/send/{txnId}</c>), in arrival order.</summary>
    public IReadOnlyList<JsonElement> ReceivedTransactions => [.. _transactions];

    /// <summary>The contents of the EDUs of one type that other servers sent here, in arrival order.</summary>
    public IReadOnlyList<JsonElement> ReceivedEdus(string eduType) =>
        [.. ReceivedTransactions
            .SelectMany(t => t.TryGetProperty("edus", out var edus) ? edus.EnumerateArray() : Enumerable.Empty<JsonElement>())
            .Where(e => e.TryGetProperty("edu_type", out var type) && type.GetString() == eduType)
            .Select(e => e.GetProperty("content"))];

    private readonly ConcurrentQueue<JsonElement> _invites = new();

    /// <summary>The invite events other servers asked this server to co-sign (<c>PUT /_matrix/federation/v2/invite</c>).</summary>
    public IReadOnlyList<JsonElement> ReceivedInvites => [.. _invites];

    /// <summary>Accepts every invite: co-signs the event as this server and answers with it.</summary>
    private async Task<IResult> AcceptInviteAsync(HttpRequest request)
    {
        using var body = await JsonDocument.ParseAsync(request.Body);
        var invite = body.RootElement.GetProperty("event");
        _invites.Enqueue(invite.Clone());
        var version = RoomVersion.Find(body.RootElement.GetProperty("room_version").GetString()) ?? RoomVersion.V10;
        var signed = JsonNode.Parse(EventSigning.Sign(invite, version, ServerName, Key))!;
        return Results.Text(new JsonObject { ["event"] = signed }.ToJsonString(), "application/json");
    }

    /// <summary>Records a transaction and acknowledges it (its PDUs are not looked at).</summary>
    private async Task<IResult> RecordTransactionAsync(HttpRequest request)
    {
        using var body = await JsonDocument.ParseAsync(request.Body);
        _transactions.Enqueue(body.RootElement.Clone());
        return Results.Text("""{"pdus":{}}""", "application/json");
    }
}
