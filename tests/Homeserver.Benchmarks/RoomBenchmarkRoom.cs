using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Homeserver.TestKit;

namespace Homeserver.Benchmarks;

/// <summary>
/// A real server (<see cref="TestServer"/>: Kestrel on loopback, PostgreSQL from <c>HS_TEST_DATABASE</c> or a private
/// cluster) with one room and <see cref="Senders"/> joined users, for the room benchmarks.
/// </summary>
public sealed class RoomBenchmarkRoom : IAsyncDisposable
{
    private readonly TestServer _server;
    private long _txn;

    private RoomBenchmarkRoom(TestServer server, string roomId, List<MatrixClient> senders)
    {
        _server = server;
        RoomId = roomId;
        Senders = senders;
    }

    public string RoomId { get; }

    public IReadOnlyList<MatrixClient> Senders { get; }

    public TestServer Server => _server;

    public static async Task<RoomBenchmarkRoom> StartAsync(int senders)
    {
        var server = new TestServer();
        await server.InitializeAsync();
        var clients = new List<MatrixClient>();
        for (var i = 0; i < senders; i++)
        {
            // One HttpClient per sender, so that concurrent senders use their own connections.
            var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 4 }) { BaseAddress = server.BaseAddress };
            clients.Add(await new MatrixClient(http).RegisterAsync());
        }

        var roomId = (await clients[0].PostAsync("/_matrix/client/v3/createRoom", new { preset = "public_chat" })).EnsureOk().Json.GetProperty("room_id").GetString()!;
        foreach (var c in clients.Skip(1))
        {
            (await c.PostAsync($"/_matrix/client/v3/join/{Uri.EscapeDataString(roomId)}", new { })).EnsureOk();
        }

        return new RoomBenchmarkRoom(server, roomId, clients);
    }

    /// <summary>PUT /send of one text message as sender <paramref name="sender"/>; returns the event ID.</summary>
    public async Task<string> SendAsync(int sender, string body)
    {
        var client = Senders[sender];
        var txn = Interlocked.Increment(ref _txn);
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/_matrix/client/v3/rooms/{Uri.EscapeDataString(RoomId)}/send/m.room.message/b{txn}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", client.AccessToken);
        request.Content = new StringContent(JsonSerializer.Serialize(new { msgtype = "m.text", body }), Encoding.UTF8, "application/json");
        using var response = await client.Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStreamAsync());
        return doc.RootElement.GetProperty("event_id").GetString()!;
    }

    /// <summary>A connection of its own for sender <paramref name="sender"/>, through the lean load generator.</summary>
    internal Task<LeanSender> ConnectLeanAsync(int sender) => LeanSender.ConnectAsync(_server.BaseAddress, RoomId, Senders[sender].AccessToken!);

    /// <summary>A transaction ID no send of this room has used.</summary>
    public string NextTransactionId() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"l{Interlocked.Increment(ref _txn)}");

    /// <summary>GET /messages backwards from a token; returns the number of events.</summary>
    public async Task<int> PageAsync(string from, int limit)
    {
        var client = Senders[0];
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/_matrix/client/v3/rooms/{Uri.EscapeDataString(RoomId)}/messages?dir=b&limit={limit}&from={Uri.EscapeDataString(from)}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", client.AccessToken);
        using var response = await client.Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStreamAsync());
        return doc.RootElement.GetProperty("chunk").GetArrayLength();
    }

    /// <summary>Sends <paramref name="count"/> messages with every sender at once; returns the event IDs in send order per sender.</summary>
    public async Task<List<string>> FillAsync(int count, int concurrency)
    {
        var ids = new string[count];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async s =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                ids[i] = await SendAsync(s % Senders.Count, "fill " + i);
            }
        }));
        return ids.ToList();
    }

    /// <summary>The /messages token just before an event (what /context gives as <c>start</c>).</summary>
    public async Task<string> TokenBeforeAsync(string eventId)
    {
        var context = (await Senders[0].GetAsync($"/_matrix/client/v3/rooms/{Uri.EscapeDataString(RoomId)}/context/{Uri.EscapeDataString(eventId)}?limit=1")).EnsureOk();
        return context.Json.GetProperty("end").GetString()!;
    }

    /// <summary>The prev_batch of the room's timeline in a sync of its latest 10 events: where a client's first page back starts.</summary>
    public async Task<string> PrevBatchAsync()
    {
        var filter = Uri.EscapeDataString("""{"room":{"timeline":{"limit":10}}}""");
        var sync = (await Senders[0].GetAsync($"/_matrix/client/v3/sync?filter={filter}")).EnsureOk();
        return sync.Json.GetProperty("rooms").GetProperty("join").GetProperty(RoomId).GetProperty("timeline").GetProperty("prev_batch").GetString()!;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in Senders)
        {
            c.Http.Dispose();
        }

        await _server.DisposeAsync();
    }
}
