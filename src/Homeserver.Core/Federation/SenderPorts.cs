namespace Homeserver.Core.Federation;

/// <summary>Where delivery to one destination stands.</summary>
public sealed record DestinationState(string Destination, long LastSentStream, long? RetryLastTs, long RetryIntervalMs);

/// <summary>One of our events waiting for a destination, with its room's version (which its signature depends on).</summary>
public sealed record OutboundPdu(string EventId, long StreamOrdering, string Json, string RoomVersion);

/// <summary>A persisted EDU waiting for a destination (its content as JSON text).</summary>
public sealed record OutboundEdu(long EduId, string EduType, string ContentJson);

/// <summary>Storage behind the outbound federation sender (implemented by Homeserver.Storage).</summary>
public interface IFederationSenderStore
{
    /// <summary>Servers other than ours with joined users in rooms where one of our users is joined, and servers with persisted EDUs waiting.</summary>
    Task<IReadOnlyList<string>> GetActiveDestinationsAsync(string ourServer, CancellationToken ct);

    Task<DestinationState?> GetDestinationAsync(string destination, CancellationToken ct);

    Task SaveDestinationAsync(DestinationState state, CancellationToken ct);

    /// <summary>
    /// Our events (sent by our users) after <paramref name="afterStream"/> up to <paramref name="upToStream"/> that the
    /// destination should get: in rooms where one of its users is joined, or membership events about one of its users.
    /// </summary>
    Task<IReadOnlyList<OutboundPdu>> GetPendingPdusAsync(string destination, string ourServer, long afterStream, long upToStream, int limit, CancellationToken ct);

    /// <summary>Stores one EDU per destination (in one transaction).</summary>
    Task AddEdusAsync(IReadOnlyCollection<string> destinations, string eduType, string contentJson, long nowTs, CancellationToken ct);

    /// <summary>The oldest persisted EDUs waiting for a destination, in the order they were stored.</summary>
    Task<IReadOnlyList<OutboundEdu>> GetPendingEdusAsync(string destination, int limit, CancellationToken ct);

    /// <summary>Forgets a destination's persisted EDUs up to <paramref name="upToEduId"/> (it acknowledged them).</summary>
    Task DeleteEdusAsync(string destination, long upToEduId, CancellationToken ct);

    /// <summary>Drops persisted EDUs stored before <paramref name="beforeTs"/> (a destination gone for that long); returns how many.</summary>
    Task<int> DeleteEdusBeforeAsync(long beforeTs, CancellationToken ct);
}
