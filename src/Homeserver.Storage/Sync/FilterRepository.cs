using System.Globalization;
using System.Text.Json;
using Dapper;
using Homeserver.Sync;
using Npgsql;

namespace Homeserver.Storage.Sync;

/// <summary>Reads stored filters by ID (table <c>user_filters</c>, written by the accounts module's filter API).</summary>
internal sealed class FilterRepository(NpgsqlDataSource db) : IFilterLookup
{
    private const string Select = "SELECT filter_json FROM user_filters WHERE user_id = @UserId AND filter_id = @FilterId";

    public async Task<JsonElement?> GetFilterAsync(string userId, string filterId, CancellationToken ct)
    {
        // Filter IDs are the numbers the filter API hands out; anything else names no filter.
        if (!long.TryParse(filterId, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return null;
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        var json = await conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(Select, new { UserId = userId, FilterId = id }, cancellationToken: ct));
        if (json is null)
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            // Filters are checked when stored; a corrupt row is treated as no filter rather than a server error.
            return null;
        }
    }
}
