using Homeserver.E2ee.ToDevice;
using Homeserver.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Send-to-device messaging (client-server API, "Send-to-Device messaging"); delivery is a /sync section.</summary>
public static class E2eeToDeviceEndpoints
{
    public static IEndpointRouteBuilder MapE2eeToDeviceEndpoints(this IEndpointRouteBuilder app)
    {
        app.V3().MapPut("/sendToDevice/{eventType}/{txnId}", Send);
        return app;
    }

    /// <summary>
    /// PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId} — send messages to devices (<c>*</c>: all of a user's devices);
    /// idempotent per device and transaction ID.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3sendtodeviceeventtypetxnid
    /// </summary>
    private static async Task<IResult> Send(HttpContext http, Authed auth, ToDeviceService toDevice, string eventType, string txnId, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        await toDevice.SendAsync(auth.Requester, RouteValues.Decode(eventType), RouteValues.Decode(txnId), body, ct);
        return JsonResults.Empty();
    }
}
