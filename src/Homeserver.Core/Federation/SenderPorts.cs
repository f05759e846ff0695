namespace Homeserver.Core.Federation;

/// <summary>Where delivery to one destination stands.</summary>
public sealed record DestinationState(string Destination, long LastSentStream, long? RetryLastTs, long RetryIntervalMs);

/// <summary>One of our events waiting for a destination.</summary>
public sealed record OutboundPdu(string EventId, long StreamOrdering, string Json);

/// <summary>Storage behind the outbound federation sender (implemented by Homeserver.Storage).</summary>
public interface IFederationSenderStore
{
    /// <summary>Servers other than ours with joined users in rooms where one of our users is joined.</summary>
    Task<IReadOnlyList<string>> GetActiveDestinationsAsync(string ourServer, CancellationToken ct);

    Task<DestinationState?> GetDestinationAsync(string destination, CancellationToken ct);

    Task SaveDestinationAsync(DestinationState state, CancellationToken ct);

    /// <summary>
    /// Our events (sent by our users) after <paramref name="afterStream"/> up to <paramref name="upToStream"/> that the
    /// destination should get: in rooms where one of its users is joined, or membership events about one of its users.
    /// </summary>
    Task<IReadOnlyList<OutboundPdu>> GetPendingPdusAsync(string destination, string ourServer, long afterStream, long upToStream, int limit, CancellationToken ct);
}
