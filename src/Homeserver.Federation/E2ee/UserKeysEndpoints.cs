using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.E2ee.Keys;
using Homeserver.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.Federation.E2ee;

/// <summary>
/// The server-server API's "Device Management" and "End-to-End Encryption" endpoints: other servers ask for our users'
/// devices and keys, and claim their one-time keys. Only our own users: a request naming anyone else is refused as a
/// whole (400, as Synapse: "User is not hosted on this homeserver").
/// </summary>
public static class UserKeysEndpoints
{
    public static IEndpointRouteBuilder MapFederationUserKeysEndpoints(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/_matrix/federation/v1");
        v1.MapGet("/user/devices/{userId}", GetDevices);
        v1.MapPost("/user/keys/query", QueryKeys);
        v1.MapPost("/user/keys/claim", ClaimKeys);
        return app;
    }

    /// <summary>
    /// GET /_matrix/federation/v1/user/devices/{userId} — a user's devices with their keys, the master and self-signing
    /// keys, and the list's version (<c>stream_id</c>) that later <c>m.device_list_update</c> EDUs build on.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1userdevicesuserid
    /// </summary>
    private static async Task<IResult> GetDevices(FederationRequest request, E2eeKeyService keys, HomeserverConfig config, string userId, CancellationToken ct)
    {
        RequireLocal(config, [userId]);
        return JsonResults.Node(await keys.GetDevicesForServerAsync(userId, ct));
    }

    /// <summary>
    /// POST /_matrix/federation/v1/user/keys/query — device, master and self-signing keys of our users.
    /// https://spec.matrix.org/v1.19/server-server-api/#post_matrixfederationv1userkeysquery
    /// </summary>
    private static async Task<IResult> QueryKeys(FederationRequest request, E2eeKeyService keys, HomeserverConfig config, CancellationToken ct)
    {
        var body = RequireObject(request);
        RequireLocal(config, UsersOf(body, "device_keys"));
        return JsonResults.Node(await keys.QueryForServerAsync(body, ct));
    }

    /// <summary>
    /// POST /_matrix/federation/v1/user/keys/claim — one-time keys (else fallback keys) of our users' devices, each
    /// handed out once.
    /// https://spec.matrix.org/v1.19/server-server-api/#post_matrixfederationv1userkeysclaim
    /// </summary>
    private static async Task<IResult> ClaimKeys(FederationRequest request, E2eeKeyService keys, HomeserverConfig config, CancellationToken ct)
    {
        var body = RequireObject(request);
        RequireLocal(config, UsersOf(body, "one_time_keys"));
        return JsonResults.Node(await keys.ClaimForServerAsync(body, ct));
    }

    private static JsonElement RequireObject(FederationRequest request)
    {
        var body = request.RequireBody();
        return body.ValueKind == JsonValueKind.Object ? body : throw MatrixException.BadJson("The body must be an object");
    }

    /// <summary>The user IDs of a map field (its shape is checked by the service).</summary>
    private static IEnumerable<string> UsersOf(JsonElement body, string field) =>
        body.TryGetProperty(field, out var map) && map.ValueKind == JsonValueKind.Object ? map.EnumerateObject().Select(p => p.Name) : [];

    private static void RequireLocal(HomeserverConfig config, IEnumerable<string> userIds)
    {
        foreach (var userId in userIds)
        {
            if (!MatrixId.IsValidUserId(userId))
            {
                throw MatrixException.InvalidParam($"Invalid user ID {userId}");
            }

            if (MatrixId.ServerOf(userId) != config.ServerName)
            {
                throw MatrixException.InvalidParam("User is not hosted on this homeserver");
            }
        }
    }
}
