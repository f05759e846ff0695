using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Ephemeral.SyncClient;

namespace Homeserver.Host.Tests.Ephemeral;

/// <summary>
/// Bad input never gets a 500: a fixed-seed generator mutates valid requests of every endpoint of this module
/// (values of the wrong type, out of range, huge, deeply nested, truncated) and every answer must be a 2xx or a 4xx.
/// </summary>
public sealed class SyncBadInputTests(TestServer server) : IClassFixture<TestServer>
{
    private static readonly JsonNode?[] Weird =
    [
        null, true, false, 0, -1, 1.5, long.MaxValue, double.MaxValue, "", "x", "!not:a-room", "@not-a-user", "$", new string('a', 5000),
        new JsonArray(), new JsonArray(1, "a", null), new JsonObject(), new JsonObject { ["x"] = new JsonArray(new JsonObject()) },
        new JsonArray(new JsonArray(0, 1)), new JsonArray(new JsonArray("*", "*")), new JsonArray(new JsonArray(-5, int.MaxValue)),
    ];

    private static JsonObject SlidingBody(string roomId) => new()
    {
        ["conn_id"] = "main",
        ["lists"] = new JsonObject
        {
            ["all"] = new JsonObject
            {
                ["ranges"] = new JsonArray(new JsonArray(0, 10)),
                ["timeline_limit"] = 5,
                ["required_state"] = new JsonArray(new JsonArray("*", "*"), new JsonArray("m.room.member", "$LAZY")),
                ["filters"] = new JsonObject { ["is_dm"] = false, ["spaces"] = new JsonArray(roomId), ["room_types"] = new JsonArray((JsonNode?)null) },
            },
        },
        ["room_subscriptions"] = new JsonObject { [roomId] = new JsonObject { ["timeline_limit"] = 3, ["required_state"] = new JsonObject { ["include"] = new JsonArray(new JsonObject()) } } },
        ["extensions"] = new JsonObject
        {
            ["typing"] = new JsonObject { ["enabled"] = true, ["lists"] = new JsonArray("all") },
            ["receipts"] = new JsonObject { ["enabled"] = true, ["rooms"] = new JsonArray(roomId) },
            ["account_data"] = new JsonObject { ["enabled"] = true },
        },
    };

    /// <summary>Replaces one randomly chosen value anywhere in the tree by a weird one.</summary>
    private static JsonNode Mutate(JsonNode root, Random random)
    {
        var copy = root.DeepClone();
        var containers = new List<JsonNode>();
        void Walk(JsonNode? n)
        {
            if (n is JsonObject o)
            {
                containers.Add(o);
                foreach (var (_, v) in o.ToList())
                {
                    Walk(v);
                }
            }
            else if (n is JsonArray a)
            {
                containers.Add(a);
                foreach (var v in a.ToList())
                {
                    Walk(v);
                }
            }
        }

        Walk(copy);
        var target = containers[random.Next(containers.Count)];
        var value = Weird[random.Next(Weird.Length)]?.DeepClone();
        switch (target)
        {
            case JsonObject o when o.Count > 0 && random.Next(4) > 0:
                o[o.ElementAt(random.Next(o.Count)).Key] = value;
                break;
            case JsonObject o:
                o["extra" + random.Next(3)] = value;
                break;
            case JsonArray a when a.Count > 0:
                a[random.Next(a.Count)] = value;
                break;
            case JsonArray a:
                a.Add(value);
                break;
        }

        return copy;
    }

    private static async Task<HttpStatusCode> SendRawAsync(MatrixClient client, HttpMethod method, string path, string? body)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", client.AccessToken);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        using var response = await client.Http.SendAsync(request);
        return response.StatusCode;
    }

    private static void ShouldNotBe500(HttpStatusCode status, string what) =>
        ((int)status).Should().BeLessThan(500, what);

    [Fact]
    public async Task Mutated_sliding_sync_requests_never_get_a_500()
    {
        var alice = await new MatrixClient(server.Client).RegisterAsync();
        var roomId = await alice.CreateRoomAsync();
        var random = new Random(4186);
        var valid = SlidingBody(roomId);
        for (var i = 0; i < 150; i++)
        {
            var body = Mutate(valid, random).ToJsonString();
            ShouldNotBe500(await SendRawAsync(alice, HttpMethod.Post, "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync?timeout=0", body), body);
        }
    }

    [Fact]
    public async Task Mutated_sync_filters_and_parameters_never_get_a_500()
    {
        var alice = await new MatrixClient(server.Client).RegisterAsync();
        var roomId = await alice.CreateRoomAsync();
        var random = new Random(3575);
        var filter = JsonNode.Parse($$$"""
            {"room":{"rooms":["{{{roomId}}}"],"timeline":{"limit":5,"types":["m.*"],"not_senders":["@a:b"],"contains_url":false},
             "state":{"lazy_load_members":true,"include_redundant_members":false},"ephemeral":{"not_types":["m.typing"]},"include_leave":true},
             "presence":{"limit":1},"account_data":{"types":["*"]},"event_fields":["content.body"],"event_format":"client"}
            """)!;
        for (var i = 0; i < 100; i++)
        {
            var f = Mutate(filter, random).ToJsonString();
            ShouldNotBe500(await SendRawAsync(alice, HttpMethod.Get, "/_matrix/client/v3/sync?timeout=0&filter=" + Esc(f), null), f);
        }

        string[] queries =
        [
            "since=s1_0_0", "since=s1_-1_0", "since=s1_99999999999999999999_0", "since=%00", "since=" + new string('9', 2000),
            "timeout=-5", "timeout=99999999999999999999", "timeout=1e3", "full_state=yes", "set_presence=", "set_presence=busy",
            "filter=%7B", "filter=" + Esc("{\"room\":" + new string('[', 200) + new string(']', 200) + "}"), "filter=123456789",
            "filter=" + Esc(new string('x', 3000)),
        ];
        foreach (var q in queries)
        {
            ShouldNotBe500(await SendRawAsync(alice, HttpMethod.Get, "/_matrix/client/v3/sync?" + q, null), q);
        }
    }

    [Fact]
    public async Task Mutated_ephemeral_requests_never_get_a_500()
    {
        var alice = await new MatrixClient(server.Client).RegisterAsync();
        var roomId = await alice.CreateRoomAsync();
        var eventId = await alice.SendTextAsync(roomId, "x");
        var random = new Random(17);
        var requests = new (HttpMethod Method, string Path, JsonNode Body)[]
        {
            (HttpMethod.Put, $"/_matrix/client/v3/rooms/{Esc(roomId)}/typing/{Esc(alice.UserId!)}", new JsonObject { ["typing"] = true, ["timeout"] = 1000 }),
            (HttpMethod.Post, $"/_matrix/client/v3/rooms/{Esc(roomId)}/receipt/m.read/{Esc(eventId)}", new JsonObject { ["thread_id"] = "main" }),
            (HttpMethod.Post, $"/_matrix/client/v3/rooms/{Esc(roomId)}/read_markers", new JsonObject { ["m.fully_read"] = eventId, ["m.read"] = eventId }),
            (HttpMethod.Put, $"/_matrix/client/v3/presence/{Esc(alice.UserId!)}/status", new JsonObject { ["presence"] = "online", ["status_msg"] = "hi" }),
        };
        foreach (var (method, path, body) in requests)
        {
            for (var i = 0; i < 25; i++)
            {
                var mutated = Mutate(body, random).ToJsonString();
                ShouldNotBe500(await SendRawAsync(alice, method, path, mutated), path + " " + mutated);
            }

            ShouldNotBe500(await SendRawAsync(alice, method, path, "{\"truncated\": "), path);
        }

        string[] paths =
        [
            "/_matrix/client/v3/rooms/%21x/typing/%40a%3Ab", "/_matrix/client/v3/rooms/!x:y/receipt/m.read/%24", "/_matrix/client/v3/rooms/!x:y/read_markers",
            "/_matrix/client/v3/presence/nobody/status", "/_matrix/client/v3/presence/%40nobody%3Aelsewhere/status",
            $"/_matrix/client/v3/rooms/{Esc(roomId)}/receipt/m.read/{Esc(eventId + "x")}", $"/_matrix/client/v3/rooms/{Esc(roomId)}/receipt/{new string('m', 300)}/{Esc(eventId)}",
            "/_matrix/client/v3/events?from=s1_1_1&timeout=0&room_id=!unknown:x", "/_matrix/client/v3/rooms/!unknown:x/initialSync", "/_matrix/client/v3/events/%24unknown",
        ];
        foreach (var p in paths)
        {
            ShouldNotBe500(await SendRawAsync(alice, HttpMethod.Get, p, null), "GET " + p);
            ShouldNotBe500(await SendRawAsync(alice, HttpMethod.Put, p, "{}"), "PUT " + p);
            ShouldNotBe500(await SendRawAsync(alice, HttpMethod.Post, p, "{}"), "POST " + p);
        }
    }

    [Fact]
    public async Task A_client_that_goes_away_leaves_no_sync_work_behind()
    {
        var alice = await new MatrixClient(server.Client).RegisterAsync();
        var since = (await alice.SyncAsync()).NextBatch();
        var notifier = (Homeserver.Sync.SyncNotifier)server.Services.GetService(typeof(Homeserver.Sync.SyncNotifier))!;

        var requests = new List<Task>();
        using var cancel = new CancellationTokenSource();
        for (var i = 0; i < 20; i++)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, $"/_matrix/client/v3/sync?timeout=60000&since={Esc(since)}");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", alice.AccessToken);
            requests.Add(alice.Http.SendAsync(request, cancel.Token));
        }

        await WaitUntilAsync(() => notifier.WaitingRequests >= 20);
        await cancel.CancelAsync();
        foreach (var r in requests)
        {
            await r.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        // Every parked request ended with its client: nothing waits on, no timer runs on.
        await WaitUntilAsync(() => notifier.WaitingRequests == 0);
        notifier.WaitingRequests.Should().Be(0);

        // And the server answers the next sync as soon as something happens.
        var roomId = await alice.CreateRoomAsync();
        (await alice.SyncAsync(since, timeout: 10_000)).JoinedRoom(roomId).Should().NotBeNull();
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++)
        {
            await Task.Delay(50);
        }
    }
}
