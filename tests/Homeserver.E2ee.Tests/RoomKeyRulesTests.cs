using Homeserver.E2ee.Backup;

namespace Homeserver.E2ee.Tests;

public sealed class RoomKeyRulesTests
{
    private static RoomKeyBackup Key(bool verified, long index, long forwarded) => new("!r:x", "s", index, forwarded, verified, "{}");

    /// <summary>(stored, uploaded, replaced?): verified first, then lower first_message_index, then lower forwarded_count.</summary>
    public static TheoryData<RoomKeyBackup, RoomKeyBackup, bool> Cases => new()
    {
        { Key(false, 5, 5), Key(true, 9, 9), true },
        { Key(true, 0, 0), Key(false, 0, 0), false },
        { Key(true, 9, 9), Key(false, 0, 0), false },
        { Key(false, 5, 0), Key(false, 4, 9), true },
        { Key(false, 4, 0), Key(false, 5, 0), false },
        { Key(true, 5, 0), Key(true, 4, 9), true },
        { Key(false, 5, 3), Key(false, 5, 2), true },
        { Key(false, 5, 2), Key(false, 5, 3), false },
        { Key(false, 5, 2), Key(false, 5, 2), false },
        { Key(true, 5, 2), Key(true, 5, 2), false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_better_key_is_kept(RoomKeyBackup stored, RoomKeyBackup uploaded, bool replaced) =>
        RoomKeyRules.ShouldReplace(stored, uploaded).Should().Be(replaced);
}
