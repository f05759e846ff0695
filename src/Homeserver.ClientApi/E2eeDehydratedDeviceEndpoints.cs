using System.Globalization;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.E2ee;
using Homeserver.E2ee.Dehydration;
using Homeserver.E2ee.ToDevice;
using Homeserver.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Dehydrated devices (MSC3814, unstable prefix <c>org.matrix.msc3814.v1</c>), as Element's Rust crypto calls them.</summary>
public static class E2eeDehydratedDeviceEndpoints
{
    private const int DefaultLimit = 100;
    private const int MaxLimit = 1000;

    public static IEndpointRouteBuilder MapE2eeDehydratedDeviceEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/_matrix/client/unstable/org.matrix.msc3814.v1");
        group.MapPut("/dehydrated_device", Put);
        group.MapGet("/dehydrated_device", Get);
        group.MapDelete("/dehydrated_device", Delete);
        group.MapGet("/dehydrated_device/{deviceId}/events", (HttpContext http, Authed auth, DehydratedDeviceService dehydrated, string deviceId, CancellationToken ct) =>
            Events(http, auth, dehydrated, deviceId, http.Request.Query["from"].ToString(), alwaysNextBatch: false, ct));
        group.MapPost("/dehydrated_device/{deviceId}/events", async (HttpContext http, Authed auth, DehydratedDeviceService dehydrated, string deviceId, CancellationToken ct) =>
        {
            var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
            return await Events(http, auth, dehydrated, deviceId, body.OptionalString("next_batch"), alwaysNextBatch: true, ct);
        });
        return app;
    }

    /// <summary>
    /// PUT /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device — store a new dehydrated device (replacing the old one) with its keys.
    /// https://github.com/matrix-org/matrix-spec-proposals/pull/3814
    /// </summary>
    private static async Task<IResult> Put(HttpContext http, Authed auth, DehydratedDeviceService dehydrated, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        return JsonResults.Node(new JsonObject { ["device_id"] = await dehydrated.PutAsync(auth.Requester, body, ct) });
    }

    /// <summary>GET /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device — the user's dehydrated device, or M_NOT_FOUND.</summary>
    private static async Task<IResult> Get(Authed auth, DehydratedDeviceService dehydrated, CancellationToken ct) =>
        JsonResults.Node(await dehydrated.GetAsync(auth.UserId, ct));

    /// <summary>DELETE /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device — delete it, or M_NOT_FOUND.</summary>
    private static async Task<IResult> Delete(Authed auth, DehydratedDeviceService dehydrated, CancellationToken ct) =>
        JsonResults.Node(new JsonObject { ["device_id"] = await dehydrated.DeleteAsync(auth.UserId, ct) });

    /// <summary>
    /// GET (from=) or POST ({next_batch}) /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events —
    /// the to-device messages sent to the dehydrated device. GET gives next_batch only while more remain; POST (the older draft) always.
    /// </summary>
    private static async Task<IResult> Events(HttpContext http, Authed auth, DehydratedDeviceService dehydrated, string deviceId, string? from, bool alwaysNextBatch, CancellationToken ct)
    {
        var limit = DefaultLimit;
        if (http.Request.Query["limit"].ToString() is { Length: > 0 } limitText
            && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1))
        {
            throw MatrixException.InvalidParam("limit must be a positive integer");
        }

        var result = await dehydrated.GetEventsAsync(auth.UserId, RouteValues.Decode(deviceId), from, Math.Min(limit, MaxLimit), alwaysNextBatch, ct);
        var json = new JsonObject { ["events"] = new JsonArray(result.Events.Select(ToJson).ToArray()) };
        if (result.NextBatch is not null)
        {
            json["next_batch"] = result.NextBatch;
        }

        return JsonResults.Node(json);
    }

    private static JsonNode ToJson(PendingToDevice message) => new JsonObject
    {
        ["content"] = JsonNode.Parse(message.ContentJson),
        ["sender"] = message.Sender,
        ["type"] = message.Type,
    };
}
