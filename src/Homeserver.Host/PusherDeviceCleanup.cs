using Homeserver.Core;
using Homeserver.Push.Pushers;

namespace Homeserver.Host;

/// <summary>A deleted device (logout, device deletion, deactivation) takes its pushers with it, as Synapse does.</summary>
internal sealed class PusherDeviceCleanup(PusherService pushers) : IDeviceListNotifier
{
    public Task DevicesChangedAsync(string userId, IReadOnlyCollection<string> deviceIds, CancellationToken ct) => Task.CompletedTask;

    public async Task DevicesDeletedAsync(string userId, IReadOnlyCollection<string> deviceIds, CancellationToken ct)
    {
        foreach (var deviceId in deviceIds)
        {
            await pushers.RemoveForDeviceAsync(userId, deviceId, ct);
        }
    }
}
