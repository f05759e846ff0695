using System.Text.Json;
using Homeserver.Core.Federation;
using Homeserver.E2ee.ToDevice;
using Microsoft.Extensions.Logging;

namespace Homeserver.Federation.E2ee;

/// <summary>
/// <c>m.direct_to_device</c>: send-to-device messages from another server's user for our users' devices
/// (server-server API "Send-to-device messaging"). The sender must belong to the origin; a <c>message_id</c> is
/// delivered once (both checked by <see cref="ToDeviceService.ReceiveFromServerAsync"/>).
/// </summary>
public sealed partial class DirectToDeviceEduHandler(ToDeviceService toDevice, ILogger<DirectToDeviceEduHandler> logger) : IEduHandler
{
    public string EduType => "m.direct_to_device";

    public async Task HandleAsync(string origin, JsonElement content, CancellationToken ct)
    {
        if (!await toDevice.ReceiveFromServerAsync(origin, content, ct))
        {
            LogRefused(origin);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused an m.direct_to_device EDU from {Origin}: malformed, or its sender is not one of the origin's users")]
    private partial void LogRefused(string origin);
}

/// <summary><c>m.device_list_update</c> (server-server API "Device Management").</summary>
public sealed class DeviceListUpdateEduHandler(RemoteDeviceLists lists) : IEduHandler
{
    public string EduType => "m.device_list_update";

    public Task HandleAsync(string origin, JsonElement content, CancellationToken ct) => lists.OnDeviceListUpdateAsync(origin, content, ct);
}

/// <summary><c>m.signing_key_update</c> (server-server API "End-to-End Encryption").</summary>
public sealed class SigningKeyUpdateEduHandler(RemoteDeviceLists lists) : IEduHandler
{
    public string EduType => "m.signing_key_update";

    public Task HandleAsync(string origin, JsonElement content, CancellationToken ct) => lists.OnSigningKeyUpdateAsync(origin, content, ct);
}
