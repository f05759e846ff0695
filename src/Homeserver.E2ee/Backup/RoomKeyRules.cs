namespace Homeserver.E2ee.Backup;

/// <summary>
/// Which of two backed-up keys for the same session to keep (client-server API "Server-side key backups"):
/// 1. if they differ in <c>is_verified</c>, the verified one;
/// 2. else the lower <c>first_message_index</c> (it decrypts more of the session);
/// 3. else the lower <c>forwarded_count</c>.
/// On a complete tie the stored key stays (a re-upload changes nothing, so the etag does not move).
/// </summary>
public static class RoomKeyRules
{
    public static bool ShouldReplace(RoomKeyBackup stored, RoomKeyBackup uploaded)
    {
        if (stored.IsVerified != uploaded.IsVerified)
        {
            return uploaded.IsVerified;
        }

        if (stored.FirstMessageIndex != uploaded.FirstMessageIndex)
        {
            return uploaded.FirstMessageIndex < stored.FirstMessageIndex;
        }

        return uploaded.ForwardedCount < stored.ForwardedCount;
    }
}
