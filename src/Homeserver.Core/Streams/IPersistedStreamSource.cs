namespace Homeserver.Core.Streams;

/// <summary>
/// A table that stores positions of the global stream (events, account data, receipts, presence,
/// to-device...). At start-up the allocator is seeded with the highest position over every source,
/// so that a position is never handed out twice, even across restarts.
/// </summary>
public interface IPersistedStreamSource
{
    /// <summary>The highest stream position stored in this source (0 when empty).</summary>
    Task<long> GetMaxStreamPositionAsync(CancellationToken ct);
}
