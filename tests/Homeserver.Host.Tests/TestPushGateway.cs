using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using Homeserver.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Homeserver.Host.Tests;

/// <summary>A push gateway on loopback (a small Kestrel app) that records what homeservers POST to /_matrix/push/v1/notify.</summary>
public sealed class TestPushGateway : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Channel<Request> _requests = Channel.CreateUnbounded<Request>();

    public sealed record Request(string? ContentType, long? ContentLength, JsonElement Body);

    private TestPushGateway(WebApplication app, int port)
    {
        _app = app;
        Url = $"http://127.0.0.1:{port}/_matrix/push/v1/notify";
    }

    public string Url { get; }

    /// <summary>The HTTP status the gateway answers with (e.g. 500 to simulate an outage).</summary>
    public int Status { get; set; } = 200;

    /// <summary>Pushkeys the gateway reports as rejected.</summary>
    public List<string> Rejected { get; } = [];

    public static async Task<TestPushGateway> StartAsync(int? port = null)
    {
        var p = port ?? TestServer.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, p));
        var app = builder.Build();
        var gateway = new TestPushGateway(app, p);
        app.MapPost("/_matrix/push/v1/notify", async (HttpContext http) =>
        {
            using var doc = await JsonDocument.ParseAsync(http.Request.Body);
            if (gateway.Status == 200)
            {
                await gateway._requests.Writer.WriteAsync(new Request(http.Request.ContentType, http.Request.ContentLength, doc.RootElement.Clone()));
            }

            http.Response.StatusCode = gateway.Status;
            await http.Response.WriteAsJsonAsync(new { rejected = gateway.Rejected });
        });
        await app.StartAsync();
        return gateway;
    }

    /// <summary>The next notification accepted by the gateway that matches, within the timeout.</summary>
    public async Task<Request> NextAsync(Func<JsonElement, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var request = await _requests.Reader.ReadAsync(cts.Token);
            if (match(request.Body))
            {
                return request;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
