using System.Collections.Immutable;

namespace Homeserver.Sync.SlidingSync.Extensions;

/// <summary>
/// The <c>account_data</c> extension (MSC3959): <c>{"global": [...], "rooms": {room_id: [...]}}</c>. Global account
/// data since <c>pos</c> (all of it on a first request); per covered room, all of its account data when the room is
/// new to the extension on this connection, else what changed since it was last covered.
/// </summary>
public sealed class AccountDataExtension(ISyncDataStore data) : ISlidingSyncExtension
{
    public string Name => "account_data";

    public async Task<SlidingExtensionResult?> ComputeAsync(SlidingExtensionContext context, CancellationToken ct)
    {
        var sent = context.PreviousState as ImmutableDictionary<string, long> ?? ImmutableDictionary.Create<string, long>(StringComparer.Ordinal);
        var since = context.Since?.Stream ?? 0;
        var upTo = context.UpTo.Stream;
        var roomFrom = context.RoomIds.ToDictionary(r => r, r => sent.TryGetValue(r, out var p) ? p : 0, StringComparer.Ordinal);
        var after = roomFrom.Count == 0 ? since : Math.Min(since, roomFrom.Values.Min());
        var entries = after >= upTo ? [] : await data.GetAccountDataAsync(context.Requester.UserId, after, upTo, ct);

        var global = entries.Where(e => e.RoomId.Length == 0 && e.StreamId > since).ToList();
        var rooms = entries.Where(e => e.RoomId.Length > 0 && roomFrom.TryGetValue(e.RoomId, out var from) && e.StreamId > from)
            .GroupBy(e => e.RoomId, StringComparer.Ordinal)
            .ToList();
        var newState = sent.SetItems(context.RoomIds.Select(r => KeyValuePair.Create(r, upTo)));
        return new SlidingExtensionResult(global.Count > 0 || rooms.Count > 0, w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("global"u8);
            w.WriteStartArray();
            foreach (var e in global)
            {
                SyncResponseWriter.WriteAccountDataEvent(w, e);
            }

            w.WriteEndArray();
            w.WritePropertyName("rooms"u8);
            w.WriteStartObject();
            foreach (var group in rooms)
            {
                w.WritePropertyName(group.Key);
                w.WriteStartArray();
                foreach (var e in group)
                {
                    SyncResponseWriter.WriteAccountDataEvent(w, e);
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }, newState);
    }
}
