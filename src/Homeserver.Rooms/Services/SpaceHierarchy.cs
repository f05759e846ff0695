using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Services;

/// <summary>
/// The space hierarchy (client-server API, "Spaces"; server-server API, "Spaces"): a breadth-first walk of
/// <c>m.space.child</c> events (with a non-empty <c>via</c>) from a room, ordered by the child's <c>order</c>, then
/// origin_server_ts, then room ID, skipping rooms the reader may not see. Pages are offsets into the walk, tied to the
/// request's parameters, so no session is kept on the server. Rooms this server is not in are left out.
/// </summary>
public sealed class SpaceHierarchy(RoomService rooms, RoomDescriptions descriptions, EventLookup lookup)
{
    public const string SpaceChild = "m.space.child";

    public const int DefaultLimit = 50;

    public const int MaxLimit = 100;

    /// <summary>GET /hierarchy for a local user.</summary>
    public async Task<JsonObject> GetAsync(string userId, string roomId, bool suggestedOnly, int? maxDepth, int? limit, string? from, CancellationToken ct)
    {
        if (limit is <= 0 || maxDepth is < 0)
        {
            throw MatrixException.InvalidParam("limit must be positive and max_depth not negative");
        }

        var pageSize = Math.Min(limit ?? DefaultLimit, MaxLimit);
        var fingerprint = Fingerprint(roomId, suggestedOnly, maxDepth);
        var offset = from is null ? 0 : ParseToken(from, fingerprint);

        var root = await DescribeLocalAsync(roomId, ct) ?? throw MatrixException.Forbidden("You may not view this room's hierarchy");
        if (!await descriptions.IsAccessibleToUserAsync(root.Description, userId, ct))
        {
            throw MatrixException.Forbidden("You may not view this room's hierarchy");
        }

        var result = new JsonArray();
        var queue = new Queue<(Described Room, int Depth)>();
        queue.Enqueue((root, 0));
        var seen = new HashSet<string>(StringComparer.Ordinal) { roomId };
        var index = 0;
        while (queue.Count > 0 && result.Count < pageSize)
        {
            var (room, depth) = queue.Dequeue();
            var children = await ChildrenAsync(room.Record, suggestedOnly, ct);
            if (index++ >= offset)
            {
                result.Add(ToHierarchyChunk(room.Description, children));
            }

            if (maxDepth is { } max && depth >= max)
            {
                continue;
            }

            foreach (var child in children)
            {
                if (!seen.Add(child.RoomId) || await DescribeLocalAsync(child.RoomId, ct) is not { } described)
                {
                    continue;
                }

                if (await descriptions.IsAccessibleToUserAsync(described.Description, userId, ct))
                {
                    queue.Enqueue((described, depth + 1));
                }
            }
        }

        var answer = new JsonObject { ["rooms"] = result };
        if (queue.Count > 0)
        {
            answer["next_batch"] = $"h1_{index.ToString(CultureInfo.InvariantCulture)}_{fingerprint}";
        }

        return answer;
    }

    /// <summary>GET /_matrix/federation/v1/hierarchy/{roomId}: the room and its accessible children for another server.</summary>
    public async Task<JsonObject> GetForServerAsync(string origin, string roomId, bool suggestedOnly, CancellationToken ct)
    {
        var root = await DescribeLocalAsync(roomId, ct) ?? throw MatrixException.NotFound("Unknown room");
        if (!await descriptions.IsAccessibleToServerAsync(root.Description, origin, ct))
        {
            throw MatrixException.NotFound("Unknown room");
        }

        var children = await ChildrenAsync(root.Record, suggestedOnly, ct);
        var accessible = new JsonArray();
        var inaccessible = new JsonArray();
        foreach (var child in children)
        {
            if (await DescribeLocalAsync(child.RoomId, ct) is not { } described)
            {
                continue;
            }

            if (await descriptions.IsAccessibleToServerAsync(described.Description, origin, ct))
            {
                accessible.Add(ToHierarchyChunk(described.Description, await ChildrenAsync(described.Record, suggestedOnly, ct)));
            }
            else
            {
                inaccessible.Add(child.RoomId);
            }
        }

        return new JsonObject
        {
            ["room"] = ToHierarchyChunk(root.Description, children),
            ["children"] = accessible,
            ["inaccessible_children"] = inaccessible,
        };
    }

    private sealed record Described(RoomRecord Record, RoomDescription Description);

    private sealed record Child(string RoomId, Pdu Event, string? Order);

    private async Task<Described?> DescribeLocalAsync(string roomId, CancellationToken ct)
    {
        if (!MatrixId.IsValidRoomId(roomId) || await rooms.FindRoomAsync(roomId, ct) is not { } record)
        {
            return null;
        }

        return await descriptions.DescribeAsync(record, ct) is { } d ? new Described(record, d) : null;
    }

    /// <summary>The room's valid <c>m.space.child</c> events in the spec's order ("Ordering of children within a space").</summary>
    private async Task<List<Child>> ChildrenAsync(RoomRecord room, bool suggestedOnly, CancellationToken ct)
    {
        var head = await rooms.GetHeadAsync(room, ct);
        var ids = head.State.Where(kv => kv.Key.Type == SpaceChild).Select(kv => kv.Value).ToList();
        var events = await lookup.GetEventsAsync(ids, ct);
        var children = new List<Child>();
        foreach (var e in events.Values)
        {
            var content = e.Content;
            if (content.ValueKind != JsonValueKind.Object || !content.TryGetProperty("via", out var via) || via.ValueKind != JsonValueKind.Array
                || !via.EnumerateArray().Any(v => v.ValueKind == JsonValueKind.String))
            {
                continue;
            }

            if (suggestedOnly && !(content.TryGetProperty("suggested", out var s) && s.ValueKind == JsonValueKind.True))
            {
                continue;
            }

            string? order = content.TryGetProperty("order", out var o) && o.ValueKind == JsonValueKind.String && o.GetString() is { Length: <= 50 } text
                && text.All(ch => ch is >= '\x20' and <= '\x7E') ? text : null;
            children.Add(new Child(e.StateKey!, e, order));
        }

        // Children with an order come first, by order; then by origin_server_ts; then by room ID.
        return children
            .OrderBy(c => c.Order is null ? 1 : 0)
            .ThenBy(c => c.Order, StringComparer.Ordinal)
            .ThenBy(c => c.Event.OriginServerTs)
            .ThenBy(c => c.RoomId, StringComparer.Ordinal)
            .ToList();
    }

    private static JsonObject ToHierarchyChunk(RoomDescription room, List<Child> children)
    {
        var chunk = RoomDescriptions.ToChunk(room);
        if (room.RoomType is null)
        {
            chunk.Remove("room_type");
        }

        if (room.JoinRule is JoinRule.Restricted or JoinRule.KnockRestricted)
        {
            chunk["allowed_room_ids"] = new JsonArray([.. room.AllowedRoomIds.Select(id => (JsonNode)JsonValue.Create(id))]);
        }

        chunk["room_version"] = room.RoomVersion;
        if (room.Encryption is not null)
        {
            chunk["encryption"] = room.Encryption;
        }

        chunk["children_state"] = new JsonArray([.. children.Select(c => (JsonNode)new JsonObject
        {
            ["type"] = SpaceChild,
            ["state_key"] = c.RoomId,
            ["content"] = JsonNode.Parse(c.Event.Content.GetRawText()),
            ["sender"] = c.Event.Sender,
            ["origin_server_ts"] = c.Event.OriginServerTs,
        })]);
        return chunk;
    }

    private static string Fingerprint(string roomId, bool suggestedOnly, int? maxDepth)
    {
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes($"{roomId}|{suggestedOnly}|{maxDepth}"));
        return Convert.ToHexString(bytes, 0, 6).ToLowerInvariant();
    }

    private static int ParseToken(string token, string fingerprint)
    {
        var parts = token.Split('_');
        if (parts.Length != 3 || parts[0] != "h1" || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
        {
            throw MatrixException.InvalidParam("Invalid 'from' token");
        }

        if (parts[2] != fingerprint)
        {
            // As Synapse: a token belongs to the request that produced it.
            throw MatrixException.InvalidParam("The 'from' token does not match this request's parameters");
        }

        return offset;
    }
}
