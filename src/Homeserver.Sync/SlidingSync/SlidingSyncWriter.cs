using System.Buffers;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Rooms.Client;

namespace Homeserver.Sync.SlidingSync;

/// <summary>
/// Writes a sliding sync response in the shape Synapse gives Element X: <c>pos</c>, <c>lists</c> (with
/// <c>count</c>), <c>rooms</c> (<c>timeline</c>, <c>required_state</c>, <c>invite_state</c>/<c>stripped_state</c>, and
/// the room fields of MSC4186; absent means unchanged), and <c>extensions</c>.
/// </summary>
public sealed class SlidingSyncWriter(ClientEventLoader loader, TimeProvider time)
{
    public async Task<byte[]> WriteAsync(Requester requester, SlidingPosition pos, SlidingSyncService.Outcome outcome, CancellationToken ct)
    {
        var events = outcome.Rooms.SelectMany(r => r.RequiredState.Concat(r.Timeline ?? [])).ToList();
        var batch = await loader.LoadAsync(events, requester.UserId, ct);
        var options = new ClientEventOptions(requester.UserId, requester.DeviceId, time.GetUtcNow().ToUnixTimeMilliseconds(), IncludeRoomId: false);

        var buffer = new ArrayBufferWriter<byte>(8 * 1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("pos"u8, pos.ToString());
            w.WritePropertyName("lists"u8);
            w.WriteStartObject();
            foreach (var (name, count) in outcome.ListCounts)
            {
                w.WritePropertyName(name);
                w.WriteStartObject();
                w.WriteNumber("count"u8, count);
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WritePropertyName("rooms"u8);
            w.WriteStartObject();
            foreach (var room in outcome.Rooms)
            {
                w.WritePropertyName(room.RoomId);
                WriteRoom(w, room, batch, options);
            }

            w.WriteEndObject();
            w.WritePropertyName("extensions"u8);
            w.WriteStartObject();
            foreach (var (name, result) in outcome.Extensions)
            {
                w.WritePropertyName(name);
                result.WriteValue(w);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteRoom(Utf8JsonWriter w, SlidingRoomResult room, ClientEventBatch batch, ClientEventOptions options)
    {
        w.WriteStartObject();
        w.WriteString("membership"u8, room.Membership);
        if (room.Initial)
        {
            w.WriteBoolean("initial"u8, true);
        }

        if (room.ExpandedTimeline)
        {
            w.WriteBoolean("expanded_timeline"u8, true);
            w.WriteBoolean("unstable_expanded_timeline"u8, true);
        }

        if (room.Name is not null)
        {
            w.WriteString("name"u8, room.Name);
        }

        if (room.Avatar is not null)
        {
            w.WriteString("avatar"u8, room.Avatar);
        }

        if (room.Heroes is { Count: > 0 } heroes)
        {
            w.WritePropertyName("heroes"u8);
            w.WriteStartArray();
            foreach (var hero in heroes)
            {
                w.WriteStartObject();
                w.WriteString("user_id"u8, hero.UserId);
                if (hero.DisplayName is not null)
                {
                    w.WriteString("displayname"u8, hero.DisplayName);
                }

                if (hero.AvatarUrl is not null)
                {
                    w.WriteString("avatar_url"u8, hero.AvatarUrl);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        if (room.IsDm)
        {
            w.WriteBoolean("is_dm"u8, true);
        }

        if (room.RequiredState.Count > 0)
        {
            w.WritePropertyName("required_state"u8);
            w.WriteStartArray();
            foreach (var e in room.RequiredState)
            {
                batch.Write(w, e, options);
            }

            w.WriteEndArray();
        }

        if (room.Timeline is { Count: > 0 } timeline)
        {
            w.WritePropertyName("timeline"u8);
            w.WriteStartArray();
            foreach (var e in timeline)
            {
                batch.Write(w, e, options);
            }

            w.WriteEndArray();
        }

        if (room.Limited is { } limited)
        {
            w.WriteBoolean("limited"u8, limited);
        }

        if (room.PrevBatch is not null)
        {
            w.WriteString("prev_batch"u8, room.PrevBatch);
        }

        if (room.NumLive is { } live)
        {
            w.WriteNumber("num_live"u8, live);
        }

        if (room.BumpStamp is { } bump)
        {
            w.WriteNumber("bump_stamp"u8, Math.Max(0, bump));
        }

        if (room.JoinedCount is { } joined)
        {
            w.WriteNumber("joined_count"u8, joined);
        }

        if (room.InvitedCount is { } invited)
        {
            w.WriteNumber("invited_count"u8, invited);
        }

        // Synapse always reports 0; the push module computes real counts for /sync.
        w.WriteNumber("notification_count"u8, 0);
        w.WriteNumber("highlight_count"u8, 0);

        if (room.StrippedState is { Count: > 0 } stripped)
        {
            // "invite_state" as Synapse (and the clients built against it) name it; "stripped_state" as the proposal does.
            foreach (var name in new[] { "invite_state", "stripped_state" })
            {
                w.WritePropertyName(name);
                w.WriteStartArray();
                foreach (var e in stripped)
                {
                    e.WriteTo(w);
                }

                w.WriteEndArray();
            }
        }

        if (room.Lists.Count > 0)
        {
            w.WritePropertyName("lists"u8);
            w.WriteStartArray();
            foreach (var list in room.Lists)
            {
                w.WriteStringValue(list);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }
}
