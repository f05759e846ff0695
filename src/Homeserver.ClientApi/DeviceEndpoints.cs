using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Device management (client-server API, "Device management").</summary>
public static class DeviceEndpoints
{
    public static IEndpointRouteBuilder MapDeviceEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapGet("/devices", ListDevices);
        v3.MapGet("/devices/{deviceId}", GetDevice);
        v3.MapPut("/devices/{deviceId}", RenameDevice);
        v3.MapDelete("/devices/{deviceId}", DeleteDevice);
        v3.MapPost("/delete_devices", DeleteDevices);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/v3/devices — the user's devices with when and from where each was last seen.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3devices
    /// </summary>
    private static async Task<IResult> ListDevices(Authed auth, SessionService sessions, CancellationToken ct)
    {
        var devices = new JsonArray();
        foreach (var device in await sessions.ListDevicesAsync(auth.UserId, ct))
        {
            devices.Add(ToJson(device));
        }

        return JsonResults.Node(new JsonObject { ["devices"] = devices });
    }

    /// <summary>
    /// GET /_matrix/client/v3/devices/{deviceId} — one device; 404 M_NOT_FOUND if the user has no such device.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3devicesdeviceid
    /// </summary>
    private static async Task<IResult> GetDevice(string deviceId, Authed auth, SessionService sessions, CancellationToken ct) =>
        JsonResults.Node(ToJson(await sessions.GetDeviceAsync(auth.UserId, deviceId, ct)));

    /// <summary>
    /// PUT /_matrix/client/v3/devices/{deviceId} — rename a device (at most 100 characters).
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3devicesdeviceid
    /// </summary>
    private static async Task<IResult> RenameDevice(string deviceId, HttpContext http, Authed auth, SessionService sessions, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        await sessions.RenameDeviceAsync(auth.UserId, deviceId, body.OptionalString("display_name"), ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// DELETE /_matrix/client/v3/devices/{deviceId} — delete a device and its tokens, after user-interactive auth.
    /// https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3devicesdeviceid
    /// </summary>
    private static async Task<IResult> DeleteDevice(
        string deviceId, HttpContext http, Authed auth, SessionService sessions, AccountService accounts, UserInteractiveAuth uia, CancellationToken ct)
    {
        auth.RequireNonGuest();
        var body = await ReadOptionalBodyAsync(http);
        var sessionId = await AccountUia.RequirePasswordAsync(body, "delete_device:" + deviceId, auth, uia, accounts, ct);
        await sessions.DeleteDevicesAsync(auth.UserId, [deviceId], null, ct);
        uia.Complete(sessionId);
        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/delete_devices — delete several devices, after user-interactive auth.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3delete_devices
    /// </summary>
    private static async Task<IResult> DeleteDevices(
        HttpContext http, Authed auth, SessionService sessions, AccountService accounts, UserInteractiveAuth uia, CancellationToken ct)
    {
        auth.RequireNonGuest();
        var body = await JsonBody.ReadObjectAsync(http);
        var devices = body.OptionalStringArray("devices") ?? throw MatrixException.MissingParam("Missing 'devices'");
        var purpose = "delete_devices:" + string.Join('\n', devices.Order(StringComparer.Ordinal));
        var sessionId = await AccountUia.RequirePasswordAsync(body, purpose, auth, uia, accounts, ct);
        await sessions.DeleteDevicesAsync(auth.UserId, devices, null, ct);
        uia.Complete(sessionId);
        return JsonResults.Empty();
    }

    /// <summary>Old clients send DELETE without a body (or not JSON): that counts as <c>{}</c>, as in Synapse.</summary>
    private static async Task<JsonElement> ReadOptionalBodyAsync(HttpContext http)
    {
        try
        {
            return await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        }
        catch (MatrixException e) when (e.ErrorCode == MatrixErrorCode.NotJson)
        {
            return JsonDocument.Parse("{}").RootElement;
        }
    }

    private static JsonObject ToJson(DeviceRecord device)
    {
        var json = new JsonObject { ["device_id"] = device.DeviceId };
        if (device.DisplayName is not null)
        {
            json["display_name"] = device.DisplayName;
        }

        if (device.LastSeenIp is not null)
        {
            json["last_seen_ip"] = device.LastSeenIp;
        }

        if (device.LastSeenTs is not null)
        {
            json["last_seen_ts"] = device.LastSeenTs;
        }

        return json;
    }
}
