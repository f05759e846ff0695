using System.Text;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;

namespace Homeserver.Push.Pushers;

/// <summary>
/// <c>GET /pushers</c> and <c>POST /pushers/set</c> ("Push notifications", client behaviour): HTTP pushers only.
/// A new pusher is sent the notifications that arrive after it is created.
/// </summary>
public sealed class PusherService(IPusherStore store, StreamPositions streams, TimeProvider time)
{
    /// <summary>The one path a gateway URL may have (pusher.yaml: "MUST be an HTTPS URL with a path of /_matrix/push/v1/notify").</summary>
    public const string NotifyPath = "/_matrix/push/v1/notify";

    public Task<IReadOnlyList<Pusher>> GetAsync(string userId, CancellationToken ct) => store.GetForUserAsync(userId, ct);

    public async Task SetAsync(Requester requester, JsonElement body, CancellationToken ct)
    {
        // kind: null deletes the pusher with this app ID and pushkey.
        if (body.TryGetProperty("kind", out var kindValue) && kindValue.ValueKind == JsonValueKind.Null)
        {
            var appIdToDelete = RequireString(body, "app_id");
            var pushkeyToDelete = RequireString(body, "pushkey");
            await store.DeleteAsync(requester.UserId, appIdToDelete, pushkeyToDelete, ct);
            return;
        }

        var required = new[] { "kind", "app_id", "app_display_name", "device_display_name", "pushkey", "lang", "data" };
        var missing = required.Where(k => !body.TryGetProperty(k, out var v) || v.ValueKind == JsonValueKind.Null).ToList();
        if (missing.Count > 0)
        {
            throw MatrixException.MissingParam("Missing parameters: " + string.Join(", ", missing));
        }

        var kind = RequireString(body, "kind");
        if (kind != "http")
        {
            throw MatrixException.InvalidParam($"Unsupported pusher kind '{kind}': only 'http' pushers are supported");
        }

        var appId = RequireString(body, "app_id");
        var pushkey = RequireString(body, "pushkey");
        if (appId.Length == 0 || appId.Length > 64)
        {
            throw MatrixException.InvalidParam("app_id must be 1 to 64 characters");
        }

        if (pushkey.Length == 0 || Encoding.UTF8.GetByteCount(pushkey) > 512)
        {
            throw MatrixException.InvalidParam("pushkey must be 1 to 512 bytes");
        }

        var data = body.GetProperty("data");
        if (data.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("'data' must be an object");
        }

        if (!data.TryGetProperty("url", out var urlValue) || urlValue.ValueKind != JsonValueKind.String)
        {
            throw MatrixException.MissingParam("'url' is required in data for HTTP pushers");
        }

        if (!Uri.TryCreate(urlValue.GetString(), UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || url.AbsolutePath != NotifyPath)
        {
            throw MatrixException.InvalidParam($"'url' must be an http(s) URL with the path {NotifyPath}");
        }

        if (data.GetRawText().Length > 16 * 1024)
        {
            throw MatrixException.TooLarge("'data' is too large");
        }

        var append = body.TryGetProperty("append", out var a) && a.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False or JsonValueKind.Null => false,
            _ => throw MatrixException.BadJson("'append' must be a boolean"),
        };

        var pusher = new Pusher(
            0, requester.UserId, requester.DeviceId, kind, appId, pushkey,
            RequireString(body, "app_display_name"), RequireString(body, "device_display_name"),
            OptionalString(body, "profile_tag") ?? string.Empty, RequireString(body, "lang"),
            data.GetRawText(), time.GetUtcNow().ToUnixTimeMilliseconds(), 0, null);
        await store.UpsertAsync(pusher, append, streams.Current, ct);
    }

    /// <summary>Removes the pushers of a device (call when a device is deleted or its session logs out, as Synapse does).</summary>
    public Task<int> RemoveForDeviceAsync(string userId, string deviceId, CancellationToken ct) => store.DeleteForDeviceAsync(userId, deviceId, ct);

    private static string RequireString(JsonElement body, string name) =>
        body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
        : v.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null ? throw MatrixException.MissingParam($"Missing parameters: {name}")
        : throw MatrixException.BadJson($"'{name}' must be a string");

    private static string? OptionalString(JsonElement body, string name) =>
        !body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw MatrixException.BadJson($"'{name}' must be a string");
}
