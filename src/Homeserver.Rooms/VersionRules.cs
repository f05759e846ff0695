using Homeserver.Core;

namespace Homeserver.Rooms;

/// <summary>
/// Room version properties that <see cref="RoomVersion"/> has no flag for yet, derived from flags that changed in the
/// same room version. Each should become a flag in Core (see the project README).
/// </summary>
internal static class VersionRules
{
    /// <summary>
    /// v6+: the power levels rules also check <c>notifications</c> (v6 "Authorisation rules", MSC2209).
    /// Introduced together with strict canonical JSON.
    /// </summary>
    public static bool LimitsNotificationsPowerLevels(this RoomVersion version) => version.StrictCanonicalJson;
}
