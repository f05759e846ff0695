using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Streams;

namespace Homeserver.Sync.SlidingSync;

/// <summary>
/// One sliding sync extension (MSC4186 "Extensions": <c>to_device</c> MSC3885, <c>e2ee</c> MSC3884,
/// <c>account_data</c> MSC3959, <c>receipts</c> MSC3960, <c>typing</c> MSC3961...). Registered in DI; the sliding
/// sync service calls the one whose <see cref="Name"/> the request enables with <c>"enabled": true</c>
/// (unknown extensions are ignored, as the proposal requires). The E2EE module provides <c>to_device</c> and
/// <c>e2ee</c> by implementing this interface.
/// </summary>
public interface ISlidingSyncExtension
{
    /// <summary>The key in the request's and the response's <c>extensions</c> object.</summary>
    string Name { get; }

    /// <summary>The extension's answer, or null for nothing to say.</summary>
    Task<SlidingExtensionResult?> ComputeAsync(SlidingExtensionContext context, CancellationToken ct);
}

/// <summary>A room of the response, as extensions see it.</summary>
/// <param name="Initial">Sent from scratch (so receipts, for instance, start again too).</param>
/// <param name="ExpandedTimeline">Sent with older events than before, because the timeline limit grew.</param>
/// <param name="TimelineEventIds">The events of its timeline.</param>
public sealed record SlidingRoomOutcome(bool Initial, bool ExpandedTimeline, IReadOnlyList<string> TimelineEventIds);

/// <summary>What an extension knows about one request.</summary>
/// <param name="Requester">Who asks.</param>
/// <param name="Config">The extension's request object (with <c>enabled</c>, and e.g. <c>lists</c>, <c>rooms</c>, <c>since</c>, <c>limit</c>).</param>
/// <param name="Since">The stream positions of the request's <c>pos</c> (null on a connection's first request).</param>
/// <param name="UpTo">The positions this answer reads up to (its new <c>pos</c>).</param>
/// <param name="RoomIds">The rooms this extension covers: those of the lists and subscriptions it names (<c>lists</c>/<c>rooms</c>, all by default).</param>
/// <param name="Rooms">The rooms in this response's <c>rooms</c>.</param>
/// <param name="PreviousState">What this extension kept on this connection at <c>pos</c> (null at first).</param>
public sealed record SlidingExtensionContext(
    Requester Requester,
    JsonElement Config,
    SyncToken? Since,
    SyncToken UpTo,
    IReadOnlyCollection<string> RoomIds,
    IReadOnlyDictionary<string, SlidingRoomOutcome> Rooms,
    object? PreviousState);

/// <summary>An extension's answer: whether it justifies answering a long-poll, how to write it, what to keep.</summary>
public sealed record SlidingExtensionResult(bool HasContent, Action<Utf8JsonWriter> WriteValue, object? NewState = null);
