namespace Homeserver.Core;

/// <summary>
/// How the rest of the server reports device changes that the E2EE module did not make itself, so that every user
/// sharing a room with the owner sees the owner in <c>/sync</c> <c>device_lists.changed</c> and <c>/keys/changes</c>.
/// Called by the accounts module (device created at login or registration, renamed, deleted, account deactivated)
/// and by federation (a remote user's <c>m.device_list_update</c>).
/// </summary>
public interface IDeviceListNotifier
{
    /// <summary>Devices were added or changed (e.g. a new login, a new display name). Works for remote users too.</summary>
    Task DevicesChangedAsync(string userId, IReadOnlyCollection<string> deviceIds, CancellationToken ct);

    /// <summary>
    /// Devices were deleted (call after the device rows are gone): removes their keys, pending to-device messages and
    /// the signatures made by or on them, then tells everyone concerned.
    /// </summary>
    Task DevicesDeletedAsync(string userId, IReadOnlyCollection<string> deviceIds, CancellationToken ct);
}
