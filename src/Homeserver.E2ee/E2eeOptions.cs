namespace Homeserver.E2ee;

/// <summary>Limits and switches of the E2EE module (defaults are what Synapse does, or what its docs recommend).</summary>
public sealed class E2eeOptions
{
    /// <summary>
    /// Refuse device keys that are not signed by the device's own ed25519 key, and signed one-time and fallback keys
    /// not signed by it ("must be signed by that key", client-server API "Uploading keys"). Synapse does not check;
    /// SyTest uploads placeholder keys and would need this off.
    /// </summary>
    public bool RequireSelfSignedKeys { get; init; } = true;

    /// <summary>
    /// Pending send-to-device messages kept per device. Beyond it the oldest are dropped (and logged): a device that
    /// never syncs must not grow without bound, and refusing the send would break delivery to the user's other devices.
    /// </summary>
    public int MaxPendingToDevicePerDevice { get; init; } = 1000;

    /// <summary>Send-to-device messages per /sync answer ("100 messages is recommended as a reasonable limit").</summary>
    public int ToDeviceSyncLimit { get; init; } = 100;

    /// <summary>
    /// Give other servers our users' device display names (in <c>/user/keys/query</c>, <c>/user/devices</c> and
    /// <c>m.device_list_update</c>). Off by default, as Synapse's <c>allow_device_name_lookup_over_federation</c>: a
    /// device name often says more about its owner than they would tell a stranger.
    /// </summary>
    public bool ShareDeviceNamesOverFederation { get; init; }

    /// <summary>The longest a key query or claim waits for a remote server (clients may ask for less).</summary>
    public TimeSpan MaxRemoteTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
