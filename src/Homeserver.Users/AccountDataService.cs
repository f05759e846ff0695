using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Streams;

namespace Homeserver.Users;

/// <summary>
/// Client config (client-server spec "Client Config"): global and per-room account data, room tags (kept as the
/// <c>m.tag</c> room account data, so /sync delivers them as account data) and the ignored-users list. Every write
/// takes a position in the global stream, stored with the item, so that /sync finds changes by position.
/// </summary>
public sealed class AccountDataService(IAccountDataStore store, StreamPositions streams, IUserStreamNotifier? notifier = null)
{
    public const string TagType = "m.tag";

    public const string DirectType = "m.direct";
    public const string IgnoredUsersType = "m.ignored_user_list";
    public const string FullyReadType = "m.fully_read";
    public const string PushRulesType = "m.push_rules";
    public const int MaxTypeLength = 255;

    // Tag updates read, change and write one item: writers of the same (user, room) are serialised here.
    private readonly SemaphoreSlim[] _stripes = [.. Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1))];

    /// <summary>One item's content (JSON object text); 404 M_NOT_FOUND if absent.</summary>
    public async Task<string> GetAsync(string userId, string? roomId, string type, CancellationToken ct) =>
        await store.GetAsync(userId, roomId ?? string.Empty, type, ct)
        ?? throw MatrixException.NotFound(roomId is null ? "Account data not found" : "Room account data not found");

    /// <summary>
    /// Sets one item (global when <paramref name="roomId"/> is null). Types the server controls are refused
    /// (405 M_BAD_JSON, as the spec says); <c>m.ignored_user_list</c> must have the shape the spec gives it.
    /// </summary>
    public async Task SetAsync(string userId, string? roomId, string type, JsonElement content, CancellationToken ct)
    {
        CheckType(type);
        if (content.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("Content must be a JSON object.");
        }

        if (type == IgnoredUsersType && roomId is null)
        {
            ValidateIgnoredUsers(content);
        }

        if (type == TagType && roomId is not null)
        {
            ValidateTags(content);
        }

        await WriteAsync(userId, roomId ?? string.Empty, type, content.GetRawText(), ct);
    }

    /// <summary>The room's tags as <c>{"tags": {...}}</c> (an empty object when there are none).</summary>
    public async Task<JsonObject> GetTagsAsync(string userId, string roomId, CancellationToken ct)
    {
        var stored = await store.GetAsync(userId, roomId, TagType, ct);
        return new JsonObject { ["tags"] = TagsOf(stored) };
    }

    /// <summary>Adds or replaces one tag. Its content is an object; <c>order</c>, if given, must be a number.</summary>
    public async Task AddTagAsync(string userId, string roomId, string tag, JsonElement content, CancellationToken ct)
    {
        CheckTagName(tag);
        if (content.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("Tag content must be a JSON object.");
        }

        if (content.TryGetProperty("order", out var order) && order.ValueKind is not (JsonValueKind.Number or JsonValueKind.Null))
        {
            throw MatrixException.BadJson("'order' must be a number");
        }

        await UpdateTagsAsync(userId, roomId, tags => tags[tag] = JsonNode.Parse(content.GetRawText()), ct);
    }

    /// <summary>
    /// Carries a user's tags of <paramref name="oldRoomId"/> to <paramref name="newRoomId"/> (existing tags of the new
    /// room win), and adds the new room to every <c>m.direct</c> entry that lists the old one. Content that is not the
    /// expected shape is left alone.
    /// </summary>
    public async Task CopyRoomStateAsync(string userId, string oldRoomId, string newRoomId, CancellationToken ct)
    {
        var oldTags = TagsOf(await store.GetAsync(userId, oldRoomId, TagType, ct));
        if (oldTags.Count > 0)
        {
            await UpdateTagsAsync(userId, newRoomId, tags =>
            {
                foreach (var (tag, content) in oldTags)
                {
                    if (!tags.ContainsKey(tag))
                    {
                        tags[tag] = content?.DeepClone();
                    }
                }
            }, ct);
        }

        var direct = await store.GetAsync(userId, string.Empty, DirectType, ct);
        if (direct is not null && JsonNode.Parse(direct) is JsonObject byUser)
        {
            var changed = false;
            foreach (var (_, rooms) in byUser)
            {
                if (rooms is JsonArray list && list.Any(r => r is JsonValue v && v.TryGetValue<string>(out var id) && id == oldRoomId)
                    && !list.Any(r => r is JsonValue v && v.TryGetValue<string>(out var id) && id == newRoomId))
                {
                    list.Add(newRoomId);
                    changed = true;
                }
            }

            if (changed)
            {
                using var doc = JsonDocument.Parse(byUser.ToJsonString());
                await SetAsync(userId, null, DirectType, doc.RootElement, ct);
            }
        }
    }

    /// <summary>Removes one tag (removing a tag that is not there is not an error, as in Synapse).</summary>
    public async Task RemoveTagAsync(string userId, string roomId, string tag, CancellationToken ct)
    {
        CheckTagName(tag);
        await UpdateTagsAsync(userId, roomId, tags => tags.Remove(tag), ct);
    }

    /// <summary>The users this user ignores (from <c>m.ignored_user_list</c>), for the rooms and sync work to filter events.</summary>
    public async Task<IReadOnlySet<string>> GetIgnoredUsersAsync(string userId, CancellationToken ct)
    {
        var stored = await store.GetAsync(userId, string.Empty, IgnoredUsersType, ct);
        var result = new HashSet<string>(StringComparer.Ordinal);
        if (stored is not null && JsonNode.Parse(stored)?["ignored_users"] is JsonObject ignored)
        {
            foreach (var (ignoredUser, _) in ignored)
            {
                result.Add(ignoredUser);
            }
        }

        return result;
    }

    /// <summary>The user's account data changed in (<paramref name="fromExclusive"/>, <paramref name="toInclusive"/>], for /sync.</summary>
    public Task<IReadOnlyList<AccountDataChange>> GetChangesAsync(string userId, long fromExclusive, long toInclusive, CancellationToken ct) =>
        store.GetChangesAsync(userId, fromExclusive, toInclusive, ct);

    private async Task UpdateTagsAsync(string userId, string roomId, Action<JsonObject> change, CancellationToken ct)
    {
        var stripe = _stripes[(int)((uint)HashCode.Combine(userId, roomId) % (uint)_stripes.Length)];
        await stripe.WaitAsync(ct);
        try
        {
            var stored = await store.GetAsync(userId, roomId, TagType, ct);
            var content = stored is null ? new JsonObject() : JsonNode.Parse(stored) as JsonObject ?? [];
            var tags = TagsOf(stored);
            change(tags);
            content["tags"] = tags;
            await WriteAsync(userId, roomId, TagType, content.ToJsonString(), ct);
        }
        finally
        {
            stripe.Release();
        }
    }

    private async Task WriteAsync(string userId, string roomId, string type, string content, CancellationToken ct)
    {
        // The position is released after the write commits (or fails), so /sync never reads past a gap.
        long position;
        using (var reservation = streams.Reserve())
        {
            position = reservation.First;
            await store.SetAsync(userId, roomId, type, content, position, ct);
        }

        // The owner's other devices see the change at once instead of at their long-poll's timeout.
        notifier?.Notify([userId], position);
        await streams.WaitUntilReadableAsync(position, ct);
    }

    private static JsonObject TagsOf(string? stored) =>
        stored is not null && JsonNode.Parse(stored)?["tags"] is JsonObject tags ? (JsonObject)tags.DeepClone() : [];

    private static void CheckType(string type)
    {
        if (type.Length is 0 or > MaxTypeLength)
        {
            throw MatrixException.InvalidParam($"The account data type must be 1 to {MaxTypeLength} characters");
        }

        if (type is FullyReadType or PushRulesType)
        {
            throw new MatrixException(MatrixErrorCode.BadJson, 405,
                type == FullyReadType ? "Cannot set m.fully_read through this API. Use /rooms/{roomId}/read_markers" : "Cannot set m.push_rules through this API. Use /pushrules");
        }
    }

    private static void CheckTagName(string tag)
    {
        if (tag.Length is 0 or > MaxTypeLength)
        {
            throw MatrixException.InvalidParam($"A tag must be 1 to {MaxTypeLength} characters");
        }
    }

    private static void ValidateTags(JsonElement content)
    {
        if (content.TryGetProperty("tags", out var tags) && tags.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("'tags' must be an object");
        }
    }

    /// <summary><c>{"ignored_users": {"@user:server": {}, ...}}</c>: keys are user IDs (M_INVALID_PARAM otherwise), values objects.</summary>
    private static void ValidateIgnoredUsers(JsonElement content)
    {
        if (!content.TryGetProperty("ignored_users", out var ignored))
        {
            throw MatrixException.MissingParam("Missing 'ignored_users'");
        }

        if (ignored.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("'ignored_users' must be an object");
        }

        foreach (var entry in ignored.EnumerateObject())
        {
            if (!MatrixId.IsValidUserId(entry.Name))
            {
                throw MatrixException.InvalidParam($"'{entry.Name}' is not a valid user ID");
            }

            if (entry.Value.ValueKind != JsonValueKind.Object)
            {
                throw MatrixException.BadJson("Each entry of 'ignored_users' must be an object");
            }
        }
    }
}
