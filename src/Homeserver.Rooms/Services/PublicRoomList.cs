using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Services;

/// <summary>A public room directory query (GET/POST /publicRooms, and their federation twins).</summary>
public sealed record PublicRoomsQuery(
    int? Limit,
    string? Since,
    string? SearchTerm,
    IReadOnlyList<string?>? RoomTypes,
    bool IncludeAllNetworks,
    string? ThirdPartyInstanceId)
{
    public bool HasFilter => SearchTerm is not null || RoomTypes is not null;

    /// <summary>Reads a POST /publicRooms body (client or federation); wrong types are 400 M_BAD_JSON.</summary>
    public static PublicRoomsQuery FromBody(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("Body must be an object");
        }

        int? limit = null;
        if (body.TryGetProperty("limit", out var l) && l.ValueKind != JsonValueKind.Null)
        {
            limit = l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var n) ? n : throw MatrixException.BadJson("limit must be an integer");
        }

        string? searchTerm = null;
        List<string?>? roomTypes = null;
        if (body.TryGetProperty("filter", out var filter) && filter.ValueKind != JsonValueKind.Null)
        {
            if (filter.ValueKind != JsonValueKind.Object)
            {
                throw MatrixException.BadJson("filter must be an object");
            }

            searchTerm = OptionalString(filter, "generic_search_term");
            if (filter.TryGetProperty("room_types", out var types) && types.ValueKind != JsonValueKind.Null)
            {
                roomTypes = types.ValueKind == JsonValueKind.Array
                    ? types.EnumerateArray().Select(t => t.ValueKind switch
                    {
                        JsonValueKind.String => t.GetString(),
                        JsonValueKind.Null => null,
                        _ => throw MatrixException.BadJson("room_types must hold strings or null"),
                    }).ToList()
                    : throw MatrixException.BadJson("room_types must be an array");
            }
        }

        bool includeAll = false;
        if (body.TryGetProperty("include_all_networks", out var all) && all.ValueKind != JsonValueKind.Null)
        {
            includeAll = all.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw MatrixException.BadJson("include_all_networks must be a boolean"),
            };
        }

        return new PublicRoomsQuery(limit, OptionalString(body, "since"), searchTerm, roomTypes, includeAll, OptionalString(body, "third_party_instance_id"));
    }

    private static string? OptionalString(JsonElement e, string name) =>
        !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw MatrixException.BadJson($"{name} must be a string");
}

/// <summary>Asks another server for its public rooms (implemented by federation).</summary>
public interface IRemotePublicRooms
{
    Task<JsonObject> QueryAsync(string server, PublicRoomsQuery query, CancellationToken ct);
}

/// <summary>
/// The public room directory (client-server API, "Listing rooms"): the published rooms we are in, largest first
/// (joined members, then room ID), filtered by a search term over name, topic and canonical alias and by room type,
/// in pages. Tokens are opaque: the position of the last (or first) room of a page and the direction.
/// </summary>
public sealed class PublicRoomList(HomeserverConfig config, IRoomFeatureStore store, IRemotePublicRooms? remote = null)
{
    public async Task<JsonObject> QueryAsync(string? server, PublicRoomsQuery query, CancellationToken ct)
    {
        if (server is not null && server != config.ServerName)
        {
            if (!ServerName.IsValid(server))
            {
                throw MatrixException.InvalidParam("Invalid server name");
            }

            return remote is null ? throw MatrixException.NotFound("Unknown server") : await remote.QueryAsync(server, query, ct);
        }

        return await QueryLocalAsync(query, ct);
    }

    public async Task<JsonObject> QueryLocalAsync(PublicRoomsQuery query, CancellationToken ct)
    {
        if (query.Limit is < 0)
        {
            throw MatrixException.InvalidParam("limit must not be negative");
        }

        Cursor? cursor = query.Since is null ? null : Cursor.Parse(query.Since);
        var all = query.ThirdPartyInstanceId is not null && !query.IncludeAllNetworks
            ? [] // we bridge no third-party networks
            : await store.DescribeRoomsAsync(await store.GetPublishedRoomNidsAsync(ct), ct);
        var matching = all.Where(r => r.JoinedMembers > 0 && Matches(r, query))
            .OrderByDescending(r => r.JoinedMembers).ThenBy(r => r.RoomId, StringComparer.Ordinal).ToList();

        var startIndex = 0;
        var endIndex = matching.Count;
        if (cursor is { } c)
        {
            var firstAfter = matching.FindIndex(r => c.IsBefore(r));
            if (c.Forwards)
            {
                startIndex = firstAfter < 0 ? matching.Count : firstAfter;
            }
            else
            {
                // Backwards: the page that ends just before the cursor's room.
                endIndex = matching.FindIndex(r => !c.IsAfter(r));
                endIndex = endIndex < 0 ? matching.Count : endIndex;
                startIndex = query.Limit is { } l && l > 0 ? Math.Max(0, endIndex - l) : 0;
            }
        }

        if (query.Limit is { } limit && limit > 0 && (cursor is null || cursor.Value.Forwards))
        {
            endIndex = Math.Min(matching.Count, startIndex + limit);
        }

        var page = matching.GetRange(startIndex, Math.Max(0, endIndex - startIndex));
        var result = new JsonObject
        {
            ["chunk"] = new JsonArray([.. page.Select(r => (JsonNode)RoomDescriptions.ToChunk(r))]),
            ["total_room_count_estimate"] = matching.Count,
        };
        if (page.Count > 0 && endIndex < matching.Count)
        {
            result["next_batch"] = new Cursor(page[^1].JoinedMembers, page[^1].RoomId, true).ToString();
        }

        if (page.Count > 0 && startIndex > 0)
        {
            result["prev_batch"] = new Cursor(page[0].JoinedMembers, page[0].RoomId, false).ToString();
        }

        return result;
    }

    private static bool Matches(RoomDescription room, PublicRoomsQuery query)
    {
        if (query.RoomTypes is { } types && !types.Contains(room.RoomType))
        {
            return false;
        }

        if (query.SearchTerm is { Length: > 0 } term)
        {
            return Contains(room.Name, term) || Contains(room.Topic, term) || Contains(room.CanonicalAlias, term);
        }

        return true;
    }

    private static bool Contains(string? text, string term) => text is not null && text.Contains(term, StringComparison.OrdinalIgnoreCase);

    /// <summary>A position in the sorted list: (joined members, room ID) of a room, and the direction to go from it.</summary>
    private readonly record struct Cursor(int Joined, string RoomId, bool Forwards)
    {
        /// <summary>Whether the cursor's room sorts before <paramref name="room"/>.</summary>
        public bool IsBefore(RoomDescription room) =>
            room.JoinedMembers < Joined || (room.JoinedMembers == Joined && string.CompareOrdinal(room.RoomId, RoomId) > 0);

        /// <summary>Whether the cursor's room sorts after <paramref name="room"/>.</summary>
        public bool IsAfter(RoomDescription room) =>
            room.JoinedMembers > Joined || (room.JoinedMembers == Joined && string.CompareOrdinal(room.RoomId, RoomId) < 0);

        public override string ToString() =>
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{(Forwards ? 'f' : 'b')}{Joined}|{RoomId}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        public static Cursor Parse(string token)
        {
            try
            {
                var padded = token.Replace('-', '+').Replace('_', '/');
                padded += new string('=', (4 - padded.Length % 4) % 4);
                var text = Encoding.UTF8.GetString(Convert.FromBase64String(padded));
                var bar = text.IndexOf('|', StringComparison.Ordinal);
                if (bar > 1 && text[0] is 'f' or 'b' && int.TryParse(text.AsSpan(1, bar - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var joined))
                {
                    return new Cursor(joined, text[(bar + 1)..], text[0] == 'f');
                }
            }
            catch (FormatException)
            {
                // Falls through to the error below.
            }

            throw MatrixException.InvalidParam("Invalid 'since' token");
        }
    }
}
