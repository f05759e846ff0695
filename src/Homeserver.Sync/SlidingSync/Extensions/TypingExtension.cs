using System.Text.Json;
using Homeserver.Sync.Typing;

namespace Homeserver.Sync.SlidingSync.Extensions;

/// <summary>
/// The <c>typing</c> extension (MSC3961): <c>{"rooms": {room_id: m.typing event}}</c> for the covered rooms whose
/// typing list changed since <c>pos</c> (who is typing now, on a first request). No per-connection state: a room
/// coming back into range gets whatever is still current, as in Synapse.
/// </summary>
public sealed class TypingExtension(TypingService typing) : ISlidingSyncExtension
{
    public string Name => "typing";

    public Task<SlidingExtensionResult?> ComputeAsync(SlidingExtensionContext context, CancellationToken ct)
    {
        var changes = typing.GetChanges(context.RoomIds, context.Since?.Typing, context.UpTo.Typing);
        var result = new SlidingExtensionResult(changes.Count > 0, w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("rooms"u8);
            w.WriteStartObject();
            foreach (var change in changes)
            {
                w.WritePropertyName(change.RoomId);
                TypingSyncSection.WriteEvent(w, change.UserIds);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        });
        return Task.FromResult<SlidingExtensionResult?>(result);
    }
}
