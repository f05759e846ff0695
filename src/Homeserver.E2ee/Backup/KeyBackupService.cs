using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;

namespace Homeserver.E2ee.Backup;

/// <summary>
/// Server-side key backups (client-server API "Server-side key backups"): versions with opaque <c>auth_data</c>, and
/// encrypted room keys written only into the current version (the highest one not deleted). Version numbers are
/// per user, increasing, never reused, and strings on the wire. An unknown or malformed version is <c>M_NOT_FOUND</c>;
/// writing to a version that is not the current one is <c>M_WRONG_ROOM_KEYS_VERSION</c> with <c>current_version</c>.
/// </summary>
public sealed class KeyBackupService(IKeyBackupStore store)
{
    /// <summary>A room key from a request (session_data is opaque: any JSON value, as Synapse and SyTest treat it).</summary>
    public static RoomKeyBackup ParseKey(string roomId, string sessionId, JsonElement key)
    {
        if (key.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("A room key must be an object");
        }

        long Int(string name) =>
            key.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) && n >= 0
                ? n
                : throw MatrixException.BadJson($"{name} must be a non-negative integer");

        if (!key.TryGetProperty("is_verified", out var verified) || verified.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            throw MatrixException.BadJson("is_verified must be a boolean");
        }

        if (!key.TryGetProperty("session_data", out var data) || data.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            throw MatrixException.BadJson("session_data is required");
        }

        return new RoomKeyBackup(roomId, sessionId, Int("first_message_index"), Int("forwarded_count"), verified.ValueKind == JsonValueKind.True, E2eeJson.ToCanonicalText(data));
    }

    /// <summary>Parses a version from the wire; an unparsable version is simply a version that does not exist.</summary>
    public static long ParseVersion(string? version) =>
        long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0
            ? v
            : throw MatrixException.NotFound("Unknown backup version");

    public static string FormatVersion(long version) => version.ToString(CultureInfo.InvariantCulture);

    /// <summary><c>POST /room_keys/version</c>.</summary>
    public async Task<string> CreateVersionAsync(string userId, JsonElement body, CancellationToken ct)
    {
        var (algorithm, authData) = ParseVersionBody(body);
        return FormatVersion(await store.CreateVersionAsync(userId, algorithm, authData, ct));
    }

    /// <summary><c>GET /room_keys/version[/{version}]</c>: the version's description, its key count and etag.</summary>
    public async Task<JsonObject> GetVersionAsync(string userId, string? version, CancellationToken ct)
    {
        long? wanted = version is null ? null : ParseVersion(version);
        var info = await store.GetVersionAsync(userId, wanted, ct);
        if (info is null || info.Deleted)
        {
            throw MatrixException.NotFound(version is null ? "No current backup version" : "Unknown backup version");
        }

        var count = await store.CountKeysAsync(userId, info.Version, ct);
        return new JsonObject
        {
            ["algorithm"] = info.Algorithm,
            ["auth_data"] = JsonNode.Parse(info.AuthDataJson),
            ["count"] = count,
            ["etag"] = info.Etag.ToString(CultureInfo.InvariantCulture),
            ["version"] = FormatVersion(info.Version),
        };
    }

    /// <summary><c>PUT /room_keys/version/{version}</c>: only <c>auth_data</c> changes; the algorithm must stay.</summary>
    public async Task UpdateVersionAsync(string userId, string version, JsonElement body, CancellationToken ct)
    {
        var number = ParseVersion(version);
        if (body.TryGetProperty("version", out var inBody) && inBody.ValueKind != JsonValueKind.Null
            && (inBody.ValueKind != JsonValueKind.String || inBody.GetString() != version))
        {
            throw MatrixException.InvalidParam("The version in the body does not match the version in the path");
        }

        var (algorithm, authData) = ParseVersionBody(body);
        var info = await store.GetVersionAsync(userId, number, ct);
        if (info is null || info.Deleted)
        {
            throw MatrixException.NotFound("Unknown backup version");
        }

        if (info.Algorithm != algorithm)
        {
            throw MatrixException.InvalidParam("Algorithm does not match");
        }

        if (!await store.UpdateAuthDataAsync(userId, number, authData, ct))
        {
            throw MatrixException.NotFound("Unknown backup version");
        }
    }

    /// <summary><c>DELETE /room_keys/version/{version}</c>: marks it deleted with its keys; deleting it again succeeds.</summary>
    public async Task DeleteVersionAsync(string userId, string version, CancellationToken ct)
    {
        if (await store.DeleteVersionAsync(userId, ParseVersion(version), ct) is null)
        {
            throw MatrixException.NotFound("Unknown backup version");
        }
    }

    /// <summary>Reads keys of a version: all, one room's, or one session (404 when that one session is absent).</summary>
    public async Task<IReadOnlyList<RoomKeyBackup>> GetKeysAsync(string userId, string? version, string? roomId, string? sessionId, CancellationToken ct)
    {
        var number = ParseVersion(RequireVersion(version));
        var info = await store.GetVersionAsync(userId, number, ct);
        if (info is null || info.Deleted)
        {
            throw MatrixException.NotFound("Unknown backup version");
        }

        var found = await store.GetKeysAsync(userId, number, roomId, sessionId, ct);
        if (sessionId is not null && found.Count == 0)
        {
            throw MatrixException.NotFound("No room key found for this session");
        }

        return found;
    }

    /// <summary>Stores keys into the current version, keeping the better of two keys for a session (see <see cref="RoomKeyRules"/>).</summary>
    public async Task<BackupCounts> PutKeysAsync(string userId, string? version, IReadOnlyList<RoomKeyBackup> keys, CancellationToken ct)
    {
        var number = ParseVersion(RequireVersion(version));
        var outcome = await store.UploadAsync(userId, number, keys, RoomKeyRules.ShouldReplace, ct);
        if (outcome.Counts is { } counts)
        {
            return counts;
        }

        if (outcome.CurrentVersion is { } current)
        {
            throw new MatrixException(E2eeErrorCodes.WrongRoomKeysVersion, 403, "Wrong backup version.",
                new Dictionary<string, object?> { ["current_version"] = FormatVersion(current) });
        }

        throw MatrixException.NotFound("Unknown backup version");
    }

    /// <summary>Deletes keys of a version: all, one room's, or one session.</summary>
    public async Task<BackupCounts> DeleteKeysAsync(string userId, string? version, string? roomId, string? sessionId, CancellationToken ct) =>
        await store.DeleteKeysAsync(userId, ParseVersion(RequireVersion(version)), roomId, sessionId, ct)
        ?? throw MatrixException.NotFound("Unknown backup version");

    /// <summary>The wire form of a key.</summary>
    public static JsonObject ToJson(RoomKeyBackup key) => new()
    {
        ["first_message_index"] = key.FirstMessageIndex,
        ["forwarded_count"] = key.ForwardedCount,
        ["is_verified"] = key.IsVerified,
        ["session_data"] = JsonNode.Parse(key.SessionDataJson),
    };

    /// <summary>The wire form of an update's answer.</summary>
    public static JsonObject ToJson(BackupCounts counts) => new()
    {
        ["count"] = counts.Count,
        ["etag"] = counts.Etag.ToString(CultureInfo.InvariantCulture),
    };

    private static string RequireVersion(string? version) =>
        string.IsNullOrEmpty(version) ? throw MatrixException.MissingParam("Missing 'version' query parameter") : version;

    private static (string Algorithm, string AuthData) ParseVersionBody(JsonElement body)
    {
        if (!body.TryGetProperty("algorithm", out var algorithm) || algorithm.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam("Missing 'algorithm'");
        }

        if (algorithm.ValueKind != JsonValueKind.String || algorithm.GetString()!.Length == 0)
        {
            throw MatrixException.BadJson("algorithm must be a non-empty string");
        }

        if (!body.TryGetProperty("auth_data", out var authData) || authData.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam("Missing 'auth_data'");
        }

        if (authData.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("auth_data must be an object");
        }

        return (algorithm.GetString()!, E2eeJson.ToCanonicalText(authData));
    }
}
